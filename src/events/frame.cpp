#include "events/frame.hpp"

#include <fmt/format.h>

#include <chrono>
#include <msgpack.hpp>
#include <stdexcept>

namespace provium::events {
namespace {

void pack(msgpack::packer<msgpack::sbuffer>& pk, const MetaValue& mv) {
  std::visit(
      [&pk](auto&& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          pk.pack_nil();
        } else if constexpr (std::is_same_v<T, bool>) {
          x ? pk.pack_true() : pk.pack_false();
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          pk.pack_int64(x);
        } else if constexpr (std::is_same_v<T, double>) {
          pk.pack_double(x);
        } else if constexpr (std::is_same_v<T, std::string>) {
          pk.pack_str(static_cast<std::uint32_t>(x.size()));
          pk.pack_str_body(x.data(), static_cast<std::uint32_t>(x.size()));
        } else if constexpr (std::is_same_v<T, MetaBytes>) {
          pk.pack_bin(static_cast<std::uint32_t>(x.data.size()));
          pk.pack_bin_body(x.data.data(), static_cast<std::uint32_t>(x.data.size()));
        } else if constexpr (std::is_same_v<T, MetaArray>) {
          pk.pack_array(static_cast<std::uint32_t>(x.size()));
          for (auto& e : x) pack(pk, e);
        } else {
          pk.pack_map(static_cast<std::uint32_t>(x.size()));
          for (auto& [k, v] : x) {
            pk.pack_str(static_cast<std::uint32_t>(k.size()));
            pk.pack_str_body(k.data(), static_cast<std::uint32_t>(k.size()));
            pack(pk, v);
          }
        }
      },
      mv.v);
}

MetaValue unpack(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::NIL: return {};
    case msgpack::type::BOOLEAN: return {o.via.boolean};
    case msgpack::type::POSITIVE_INTEGER: return {static_cast<std::int64_t>(o.via.u64)};
    case msgpack::type::NEGATIVE_INTEGER: return {o.via.i64};
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: return {o.via.f64};
    case msgpack::type::STR: return {std::string(o.via.str.ptr, o.via.str.size)};
    case msgpack::type::BIN: return {MetaBytes{std::string(o.via.bin.ptr, o.via.bin.size)}};
    case msgpack::type::ARRAY: {
      MetaArray a;
      for (std::uint32_t i = 0; i < o.via.array.size; ++i) a.push_back(unpack(o.via.array.ptr[i]));
      return {std::move(a)};
    }
    case msgpack::type::MAP: {
      MetaMap m;
      for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
        auto& kv = o.via.map.ptr[i];
        std::string key = kv.key.type == msgpack::type::STR ? std::string(kv.key.via.str.ptr, kv.key.via.str.size)
                                                            : std::string("?");
        m[key] = unpack(kv.val);
      }
      return {std::move(m)};
    }
    default: return {};
  }
}

}  // namespace

std::int64_t now_ns() {
  using namespace std::chrono;
  return duration_cast<nanoseconds>(system_clock::now().time_since_epoch()).count();
}

std::string encode_value(const MetaValue& v) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(&buf);
  pack(pk, v);
  return std::string(buf.data(), buf.size());
}

std::string encode_frame(const Event& e) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(&buf);
  pk.pack_map(3);
  pk.pack_str(2);
  pk.pack_str_body("ts", 2);
  pk.pack_int64(e.ts);
  pk.pack_str(4);
  pk.pack_str_body("kind", 4);
  pk.pack_str(static_cast<std::uint32_t>(e.kind.size()));
  pk.pack_str_body(e.kind.data(), static_cast<std::uint32_t>(e.kind.size()));
  pk.pack_str(7);
  pk.pack_str_body("payload", 7);
  pack(pk, MetaValue{e.payload});
  std::uint32_t n = static_cast<std::uint32_t>(buf.size());
  std::string out;
  out.reserve(4 + n);
  out.push_back(static_cast<char>(n >> 24));
  out.push_back(static_cast<char>(n >> 16));
  out.push_back(static_cast<char>(n >> 8));
  out.push_back(static_cast<char>(n));
  out.append(buf.data(), buf.size());
  return out;
}

std::optional<Event> FrameReader::next() {
  if (buf_.size() - pos_ < 4) return std::nullopt;
  auto b = [&](size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(buf_[pos_ + i])); };
  std::uint32_t n = (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
  if (n > kMaxFrameBytes)
    throw std::runtime_error(fmt::format("frame {} at byte {}: length {} exceeds the {} MiB limit (not an event stream?)",
                                         frames_ + 1, consumed_, n, kMaxFrameBytes >> 20));
  if (buf_.size() - pos_ < 4 + static_cast<size_t>(n)) return std::nullopt;
  Event e;
  try {
    auto handle = msgpack::unpack(buf_.data() + pos_ + 4, n);
    MetaValue v = unpack(handle.get());
    auto m = v.as_map();
    if (!m) throw std::runtime_error("frame body is not a map");
    auto ts = m->find("ts");
    auto kind = m->find("kind");
    auto payload = m->find("payload");
    if (ts == m->end() || kind == m->end() || !kind->second.as_string())
      throw std::runtime_error("frame lacks `ts` or `kind`");
    if (auto i = std::get_if<std::int64_t>(&ts->second.v)) e.ts = *i;
    e.kind = *kind->second.as_string();
    if (payload != m->end() && payload->second.as_map()) e.payload = *payload->second.as_map();
  } catch (const std::exception& ex) {
    throw std::runtime_error(fmt::format("frame {} at byte {}: cannot decode: {}", frames_ + 1, consumed_, ex.what()));
  }
  pos_ += 4 + n;
  consumed_ += 4 + n;
  ++frames_;
  if (pos_ > (1u << 20)) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  return e;
}

}  // namespace provium::events
