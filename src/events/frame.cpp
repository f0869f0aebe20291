#include "events/frame.hpp"

#include <fmt/format.h>

#include <chrono>
#include <stdexcept>

#include "proto/codec.hpp"

namespace provium::events {

std::int64_t now_ns() {
  using namespace std::chrono;
  return duration_cast<nanoseconds>(system_clock::now().time_since_epoch()).count();
}

std::string encode_frame(const Event& e) {
  MetaMap body;
  body["ts"] = MetaValue{e.ts};
  body["kind"] = MetaValue{e.kind};
  body["payload"] = MetaValue{e.payload};
  // Keys go out in sorted order (kind, payload, ts): a map, so order carries no meaning.
  return proto::frame(proto::encode(MetaValue{std::move(body)}));
}

std::optional<Event> FrameReader::next() {
  std::optional<std::string> body;
  try {
    body = splitter_.next();
  } catch (const proto::DecodeError& ex) {
    throw std::runtime_error(std::string(ex.what()) + " (not an event stream?)");
  }
  if (!body) return std::nullopt;
  Event e;
  try {
    MetaValue v = proto::decode(*body);
    auto m = v.as_map();
    if (!m) throw std::runtime_error("frame body is not a map");
    auto ts = m->find("ts");
    auto kind = m->find("kind");
    auto payload = m->find("payload");
    if (ts == m->end() || kind == m->end() || !kind->second.as_string())
      throw std::runtime_error("frame lacks `ts` or `kind`");
    if (auto i = ts->second.as_int()) e.ts = *i;
    e.kind = *kind->second.as_string();
    if (payload != m->end() && payload->second.as_map()) e.payload = *payload->second.as_map();
  } catch (const std::exception& ex) {
    throw std::runtime_error(fmt::format("frame {} at byte {}: cannot decode: {}",
                                         splitter_.frames(),
                                         splitter_.consumed() - body->size() - 4, ex.what()));
  }
  return e;
}

}  // namespace provium::events
