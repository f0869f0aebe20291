// Event frames (REFERENCE §11.1): a 4-byte big-endian length, then a msgpack map
// {ts: i64 ns since the Unix epoch, kind: str, payload: map}. Payloads are MetaMaps, so the
// one value type that carries test meta also carries every event field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "events/meta_value.hpp"
#include "proto/codec.hpp"

namespace provium::events {

/// Largest frame body a decoder accepts; a bigger length prefix means garbage, not an event.
inline constexpr std::uint32_t kMaxFrameBytes = 64u << 20;

struct Event {
  std::int64_t ts = 0;
  std::string kind;
  MetaMap payload;
};

/// Encodes one event as a complete frame (length prefix included).
std::string encode_frame(const Event& e);

/// Incremental decoder for a byte stream of frames.
class FrameReader {
 public:
  void feed(std::string_view bytes) { splitter_.feed(bytes); }
  /// Next whole event, nullopt when more bytes are needed. Throws std::runtime_error on a
  /// frame that is oversized or not an event map; the message names the frame and offset.
  std::optional<Event> next();
  /// Bytes of an incomplete frame still buffered (a truncated stream when > 0 at EOF).
  size_t pending() const { return splitter_.pending(); }
  std::uint64_t offset() const { return splitter_.consumed(); }
  std::uint64_t frames() const { return splitter_.frames(); }

 private:
  proto::FrameSplitter splitter_{kMaxFrameBytes};
};

/// Current time as event timestamps use it.
std::int64_t now_ns();

}  // namespace provium::events
