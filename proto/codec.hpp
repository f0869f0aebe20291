// msgpack encoding of proto::Value and the length-prefixed framing shared by the agent wire
// (REFERENCE §6.3) and the event stream (§11.1): a 4-byte big-endian body length, then the body.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

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

/// msgpack of `v` with its 4-byte big-endian length in front, built in one buffer.
std::string encode_framed(const Value& v);

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
  std::uint32_t max_;
  std::string buf_;
  size_t pos_ = 0;
  std::uint64_t consumed_ = 0, frames_ = 0;
};

}  // namespace provium::proto
