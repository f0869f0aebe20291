// msgpack encoding of proto::Value and the length-prefixed framing shared by the agent wire
// (REFERENCE §6.3) and the event stream (§11.1): a 4-byte big-endian body length, then the body.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "proto/value.hpp"

namespace provium::proto {

class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// msgpack bytes of one value (maps with string keys, `bin` for Bytes).
std::string encode(const Value& v);
/// Decodes exactly one value; throws DecodeError on malformed input or trailing bytes.
Value decode(std::string_view bytes);

/// msgpack of `v` with its 4-byte big-endian length in front, built in one exactly sized buffer.
std::string encode_framed(const Value& v);

/// A frame whose large `bin` bodies stay where they are: `bytes` holds everything else, and each
/// ref's data goes on the wire at offset `at` of `bytes` (refs in order). Same bytes on the wire
/// as encode_framed(); the Value must outlive the write. See proto::write_framed (fd_io.hpp).
struct FramedRefs {
  struct Ref {
    std::size_t at;
    std::string_view data;
  };
  std::string bytes;
  std::vector<Ref> refs;
  /// Total frame size, length prefix included.
  std::size_t size() const;
};
FramedRefs encode_framed_refs(const Value& v, std::size_t min_ref = 64u << 10);

/// Prefixes `body` with its 4-byte big-endian length.
std::string frame(std::string_view body);

/// Incremental splitter of a byte stream into frame bodies.
class FrameSplitter {
 public:
  explicit FrameSplitter(std::uint32_t max_body) : max_(max_body) {}
  void feed(std::string_view bytes) { buf_.append(bytes); }
  /// Next whole body, nullopt when more bytes are needed. Throws DecodeError when a length
  /// prefix exceeds the cap (the stream is then unusable).
  std::optional<std::string> next();

  /// A big frame whose body ends with a `bin` (read_file data, exec output): the bytes before
  /// the bin's data, and the data in a buffer of its own, of which the first `filled` bytes have
  /// arrived. The reader fills the rest straight from its descriptor, then decode_tail_frame()
  /// turns it into a Value that adopts `data` without copying it.
  struct TailFrame {
    std::string head;  // body bytes up to the bin's data; ends with its header
    std::size_t bin_header = 0;
    std::string data;
    std::size_t filled = 0;
  };
  /// When the next frame has not fully arrived, its body ends with a bin of at least
  /// `min_tail` bytes and everything before that bin is buffered: takes the frame out of the
  /// splitter (which is then empty; the frame's remaining bytes belong to `data`). Throws like
  /// next().
  std::optional<TailFrame> take_tail_frame(std::size_t min_tail);
  size_t pending() const { return buf_.size() - pos_; }
  /// After a DecodeError: the buffered bytes from the bad length prefix on (to hunt in). The
  /// prefix is kept: it may be the start of a sync marker (a host reconnecting mid-stream,
  /// as after a restore, sends the marker where a frame header was expected).
  std::string take_rest() {
    std::string rest = buf_.substr(pos_);
    buf_.clear();
    pos_ = 0;
    return rest;
  }
  std::uint64_t consumed() const { return consumed_; }
  std::uint64_t frames() const { return frames_; }

 private:
  std::optional<std::uint32_t> next_length() const;
  void consume(std::size_t n);

  std::uint32_t max_;
  std::string buf_;
  size_t pos_ = 0;
  std::uint64_t consumed_ = 0, frames_ = 0;
  // take_tail_frame's resumable walk over the pending frame (identified by its start).
  std::uint64_t scan_frame_ = UINT64_MAX;
  std::size_t scan_at_ = 0;
  bool scan_none_ = false;
};

/// The Value of a TailFrame whose `data` is complete; throws DecodeError like decode().
Value decode_tail_frame(FrameSplitter::TailFrame&& t);

}  // namespace provium::proto
