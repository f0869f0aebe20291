#include "proto/codec.hpp"

#include <cstring>
#include <msgpack.hpp>

namespace provium::proto {
namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

// msgpack-cxx packs integral doubles (2.0) as integers; a float must stay a float on the wire
// (REFERENCE §11.4), so float64 is written by hand.
void pack_float64(msgpack::sbuffer& buf, double d) {
  std::uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  char b[9];
  b[0] = static_cast<char>(0xcb);
  for (int i = 0; i < 8; ++i) b[1 + i] = static_cast<char>(bits >> (56 - 8 * i));
  buf.write(b, sizeof b);
}

void pack(Packer& pk, msgpack::sbuffer& buf, const Value& mv) {
  std::visit(
      [&pk, &buf](auto&& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          pk.pack_nil();
        } else if constexpr (std::is_same_v<T, bool>) {
          x ? pk.pack_true() : pk.pack_false();
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          pk.pack_int64(x);
        } else if constexpr (std::is_same_v<T, double>) {
          pack_float64(buf, x);
        } else if constexpr (std::is_same_v<T, std::string>) {
          pk.pack_str(static_cast<std::uint32_t>(x.size()));
          pk.pack_str_body(x.data(), static_cast<std::uint32_t>(x.size()));
        } else if constexpr (std::is_same_v<T, Bytes>) {
          pk.pack_bin(static_cast<std::uint32_t>(x.data.size()));
          pk.pack_bin_body(x.data.data(), static_cast<std::uint32_t>(x.data.size()));
        } else if constexpr (std::is_same_v<T, Array>) {
          pk.pack_array(static_cast<std::uint32_t>(x.size()));
          for (auto& e : x) pack(pk, buf, e);
        } else {
          pk.pack_map(static_cast<std::uint32_t>(x.size()));
          for (auto& [k, v] : x) {
            pk.pack_str(static_cast<std::uint32_t>(k.size()));
            pk.pack_str_body(k.data(), static_cast<std::uint32_t>(k.size()));
            pack(pk, buf, v);
          }
        }
      },
      mv.v);
}

Value unpack(const msgpack::object& o, int depth) {
  if (depth > 64) throw DecodeError("nesting deeper than 64 levels");
  switch (o.type) {
    case msgpack::type::NIL: return {};
    case msgpack::type::BOOLEAN: return Value{o.via.boolean};
    case msgpack::type::POSITIVE_INTEGER: return Value{static_cast<std::int64_t>(o.via.u64)};
    case msgpack::type::NEGATIVE_INTEGER: return Value{o.via.i64};
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: return Value{o.via.f64};
    case msgpack::type::STR: return Value{std::string(o.via.str.ptr, o.via.str.size)};
    case msgpack::type::BIN: return Value{Bytes{std::string(o.via.bin.ptr, o.via.bin.size)}};
    case msgpack::type::ARRAY: {
      Array a;
      a.reserve(o.via.array.size);
      for (std::uint32_t i = 0; i < o.via.array.size; ++i) a.push_back(unpack(o.via.array.ptr[i], depth + 1));
      return Value{std::move(a)};
    }
    case msgpack::type::MAP: {
      Map m;
      for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
        auto& kv = o.via.map.ptr[i];
        if (kv.key.type != msgpack::type::STR) throw DecodeError("map key is not a string");
        m[std::string(kv.key.via.str.ptr, kv.key.via.str.size)] = unpack(kv.val, depth + 1);
      }
      return Value{std::move(m)};
    }
    default: throw DecodeError("unsupported msgpack type (ext)");
  }
}

}  // namespace

std::string encode(const Value& v) {
  msgpack::sbuffer buf;
  Packer pk(&buf);
  pack(pk, buf, v);
  return std::string(buf.data(), buf.size());
}

Value decode(std::string_view bytes) {
  std::size_t off = 0;
  msgpack::object_handle h;
  try {
    // Reference the input instead of copying into msgpack's zone: unpack() copies each str/bin
    // once, into the Value, before `bytes` goes away.
    auto by_reference = [](msgpack::type::object_type, std::size_t, void*) { return true; };
    h = msgpack::unpack(bytes.data(), bytes.size(), off, by_reference);
  } catch (const std::exception& e) {
    throw DecodeError(std::string("malformed msgpack: ") + e.what());
  }
  if (off != bytes.size()) throw DecodeError("trailing bytes after the msgpack value");
  return unpack(h.get(), 0);
}

std::string encode_framed(const Value& v) {
  msgpack::sbuffer buf(64 * 1024);
  buf.write("\0\0\0\0", 4);  // length, patched below
  Packer pk(&buf);
  pack(pk, buf, v);
  auto n = static_cast<std::uint32_t>(buf.size() - 4);
  char* d = buf.data();
  d[0] = static_cast<char>(n >> 24);
  d[1] = static_cast<char>(n >> 16);
  d[2] = static_cast<char>(n >> 8);
  d[3] = static_cast<char>(n);
  return std::string(buf.data(), buf.size());
}

std::string frame(std::string_view body) {
  auto n = static_cast<std::uint32_t>(body.size());
  std::string out;
  out.reserve(4 + body.size());
  out.push_back(static_cast<char>(n >> 24));
  out.push_back(static_cast<char>(n >> 16));
  out.push_back(static_cast<char>(n >> 8));
  out.push_back(static_cast<char>(n));
  out.append(body);
  return out;
}

std::optional<std::string> FrameSplitter::next() {
  if (buf_.size() - pos_ < 4) return std::nullopt;
  auto b = [&](size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(buf_[pos_ + i])); };
  std::uint32_t n = (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
  if (n > max_)
    throw DecodeError("frame " + std::to_string(frames_ + 1) + " at byte " + std::to_string(consumed_) +
                      ": length " + std::to_string(n) + " exceeds the limit of " + std::to_string(max_) + " bytes");
  if (buf_.size() - pos_ < 4 + static_cast<size_t>(n)) return std::nullopt;
  std::string body = buf_.substr(pos_ + 4, n);
  pos_ += 4 + n;
  consumed_ += 4 + n;
  ++frames_;
  if (pos_ > (1u << 20) || pos_ == buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  return body;
}

}  // namespace provium::proto
