#include "proto/codec.hpp"

#include <cstring>
#include <msgpack.hpp>

#include "proto/fd_io.hpp"

namespace provium::proto {
namespace {

// Packer sinks. msgpack-cxx only needs `write(const char*, size_t)`: counting first lets the
// frame be built in one exactly sized string (no sbuffer growth, no final copy).
struct CountSink {
  std::size_t n = 0;
  void write(const char*, std::size_t k) { n += k; }
};
struct StringSink {
  std::string* out;
  void write(const char* p, std::size_t k) { out->append(p, k); }
};

// Where a large `bin` body goes instead of being copied (nullptr: copy everything).
struct RefSink {
  FramedRefs* refs;
  std::size_t min_ref;
};

// msgpack-cxx packs integral doubles (2.0) as integers; a float must stay a float on the wire
// (REFERENCE §11.4), so float64 is written by hand.
template <typename Sink>
void pack_float64(Sink& buf, double d) {
  std::uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  char b[9];
  b[0] = static_cast<char>(0xcb);
  for (int i = 0; i < 8; ++i) b[1 + i] = static_cast<char>(bits >> (56 - 8 * i));
  buf.write(b, sizeof b);
}

template <typename Sink>
void pack(msgpack::packer<Sink>& pk, Sink& buf, const Value& mv, const RefSink* refs) {
  std::visit(
      [&pk, &buf, refs](auto&& x) {
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
          if (refs && x.data.size() >= refs->min_ref) {
            // Located (or only counted), never copied: the writer sends it from the Value.
            if constexpr (std::is_same_v<Sink, StringSink>)
              refs->refs->refs.push_back({buf.out->size(), std::string_view(x.data)});
            return;
          }
          pk.pack_bin_body(x.data.data(), static_cast<std::uint32_t>(x.data.size()));
        } else if constexpr (std::is_same_v<T, Array>) {
          pk.pack_array(static_cast<std::uint32_t>(x.size()));
          for (auto& e : x) pack(pk, buf, e, refs);
        } else {
          pk.pack_map(static_cast<std::uint32_t>(x.size()));
          for (auto& [k, v] : x) {
            pk.pack_str(static_cast<std::uint32_t>(k.size()));
            pk.pack_str_body(k.data(), static_cast<std::uint32_t>(k.size()));
            pack(pk, buf, v, refs);
          }
        }
      },
      mv.v);
}

// Bytes the packer writes for `v` (large bins left out when `refs` is given).
std::size_t encoded_size(const Value& v, const RefSink* refs = nullptr) {
  CountSink c;
  msgpack::packer<CountSink> pk(c);
  pack(pk, c, v, refs);
  return c.n;
}

void put_length(char* d, std::size_t len) {
  auto n = static_cast<std::uint32_t>(len);
  d[0] = static_cast<char>(n >> 24);
  d[1] = static_cast<char>(n >> 16);
  d[2] = static_cast<char>(n >> 8);
  d[3] = static_cast<char>(n);
}

// A zero-length `bin` whose header is the end of the input stands for a body kept elsewhere.
// (A referenced empty bin points into its own header: at its length bytes or just after.)
struct Hole {
  const char *from, *to;  // the header's bytes after the type byte, and the input's end
  std::string* data;
  bool matches(const msgpack::object& o) const {
    return o.via.bin.size == 0 && o.via.bin.ptr >= from && o.via.bin.ptr <= to;
  }
};

Value unpack(const msgpack::object& o, int depth, const Hole* hole) {
  if (depth > 64) throw DecodeError("nesting deeper than 64 levels");
  switch (o.type) {
    case msgpack::type::NIL:
      return {};
    case msgpack::type::BOOLEAN:
      return Value{o.via.boolean};
    case msgpack::type::POSITIVE_INTEGER:
      return Value{static_cast<std::int64_t>(o.via.u64)};
    case msgpack::type::NEGATIVE_INTEGER:
      return Value{o.via.i64};
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return Value{o.via.f64};
    case msgpack::type::STR:
      return Value{std::string(o.via.str.ptr, o.via.str.size)};
    case msgpack::type::BIN:
      if (hole && hole->matches(o)) return Value{Bytes{std::move(*hole->data)}};
      return Value{Bytes{std::string(o.via.bin.ptr, o.via.bin.size)}};
    case msgpack::type::ARRAY: {
      Array a;
      a.reserve(o.via.array.size);
      for (std::uint32_t i = 0; i < o.via.array.size; ++i)
        a.push_back(unpack(o.via.array.ptr[i], depth + 1, hole));
      return Value{std::move(a)};
    }
    case msgpack::type::MAP: {
      Map m;
      for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
        auto& kv = o.via.map.ptr[i];
        if (kv.key.type != msgpack::type::STR) throw DecodeError("map key is not a string");
        m[std::string(kv.key.via.str.ptr, kv.key.via.str.size)] = unpack(kv.val, depth + 1, hole);
      }
      return Value{std::move(m)};
    }
    default:
      throw DecodeError("unsupported msgpack type (ext)");
  }
}

Value decode_impl(std::string_view bytes, const Hole* hole) {
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
  return unpack(h.get(), 0, hole);
}

// One step of a walk over msgpack item headers (containers are entered, not skipped: their
// items follow in order). Sets `len` to the header size plus any inline body, or 0 when `b`
// is not a valid type byte. Bins report their header only, with the body length in `bin`.
bool item_extent(std::string_view s, std::size_t at, std::size_t& len, std::size_t& bin) {
  auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(s[at + i]); };
  auto be = [&](std::size_t n) {  // the n-byte big-endian length after the type byte
    std::size_t v = 0;
    for (std::size_t i = 1; i <= n; ++i) v = (v << 8) | byte(i);
    return v;
  };
  auto is = [&](std::size_t l) {
    len = l;
    return true;
  };
  bin = SIZE_MAX;
  std::uint8_t b = byte(0);
  if (b >= 0xa0 && b <= 0xbf) return is(1 + (b & 0x1fu));  // fixstr
  if (b <= 0x9f || b >= 0xe0) return is(1);  // fixint, fixmap, fixarray, negative fixint
  switch (b) {
    case 0xc0:
    case 0xc2:
    case 0xc3:
      return is(1);
    case 0xca:
      return is(5);
    case 0xcb:
      return is(9);
    case 0xcc:
    case 0xd0:
      return is(2);
    case 0xcd:
    case 0xd1:
      return is(3);
    case 0xce:
    case 0xd2:
      return is(5);
    case 0xcf:
    case 0xd3:
      return is(9);
    case 0xd4:
      return is(3);
    case 0xd5:
      return is(4);
    case 0xd6:
      return is(6);
    case 0xd7:
      return is(10);
    case 0xd8:
      return is(18);
    case 0xdc:
    case 0xde:
      return is(3);
    case 0xdd:
    case 0xdf:
      return is(5);
    default:
      break;
  }
  // Variable-length items: bin, ext, str with 1-, 2- or 4-byte lengths.
  std::size_t n = 0;
  if (b >= 0xc4 && b <= 0xc9)
    n = std::size_t{1} << ((b - 0xc4) % 3);
  else if (b >= 0xd9 && b <= 0xdb)
    n = std::size_t{1} << (b - 0xd9);
  else
    return is(0);  // 0xc1: never valid
  if (s.size() - at < 1 + n) return false;
  if (b <= 0xc6) {
    bin = be(n);
    return is(1 + n);
  }
  if (b <= 0xc9) return is(2 + n + be(n));  // ext: length, type byte, data
  return is(1 + n + be(n));                 // str
}

}  // namespace

std::string encode(const Value& v) {
  std::string out;
  out.reserve(encoded_size(v));
  StringSink sink{&out};
  msgpack::packer<StringSink> pk(sink);
  pack(pk, sink, v, nullptr);
  return out;
}

Value decode(std::string_view bytes) { return decode_impl(bytes, nullptr); }

Value decode_tail_frame(FrameSplitter::TailFrame&& t) {
  // `head` ends with the bin header of `data`: make it a zero-length bin at the very end of
  // the input, which unpack() then replaces by the data itself.
  auto& head = t.head;
  if (t.bin_header < 2 || t.bin_header > head.size())
    throw DecodeError("tail frame without a bin header");
  for (std::size_t i = head.size() - t.bin_header + 1; i < head.size(); ++i) head[i] = 0;
  Hole hole{head.data() + head.size() - t.bin_header + 1, head.data() + head.size(), &t.data};
  return decode_impl(head, &hole);
}

std::string encode_framed(const Value& v) {
  std::size_t n = encoded_size(v);
  std::string out;
  out.reserve(4 + n);
  out.append(4, '\0');
  put_length(out.data(), n);
  StringSink sink{&out};
  msgpack::packer<StringSink> pk(sink);
  pack(pk, sink, v, nullptr);
  return out;
}

FramedRefs encode_framed_refs(const Value& v, std::size_t min_ref) {
  FramedRefs f;
  RefSink refs{&f, min_ref};
  std::size_t small = encoded_size(v, &refs);
  f.bytes.reserve(4 + small);
  f.bytes.append(4, '\0');
  StringSink sink{&f.bytes};
  msgpack::packer<StringSink> pk(sink);
  pack(pk, sink, v, &refs);
  put_length(f.bytes.data(), f.size() - 4);
  return f;
}

std::size_t FramedRefs::size() const {
  std::size_t n = bytes.size();
  for (auto& r : refs) n += r.data.size();
  return n;
}

std::string frame(std::string_view body) {
  std::string out;
  out.reserve(4 + body.size());
  out.append(4, '\0');
  put_length(out.data(), body.size());
  out.append(body);
  return out;
}

std::optional<std::uint32_t> FrameSplitter::next_length() const {
  if (buf_.size() - pos_ < 4) return std::nullopt;
  auto b = [&](size_t i) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(buf_[pos_ + i]));
  };
  std::uint32_t n = (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
  if (n > max_)
    throw DecodeError("frame " + std::to_string(frames_ + 1) + " at byte " +
                      std::to_string(consumed_) + ": length " + std::to_string(n) +
                      " exceeds the limit of " + std::to_string(max_) + " bytes");
  return n;
}

void FrameSplitter::consume(std::size_t n) {
  pos_ += n;
  consumed_ += n;
  ++frames_;
  if (pos_ > (1u << 20) || pos_ == buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
    // A big frame's room is not kept for the connection's life.
    if (buf_.empty() && buf_.capacity() > (4u << 20)) std::string().swap(buf_);
  }
}

std::optional<std::string> FrameSplitter::next() {
  auto len = next_length();
  if (!len) return std::nullopt;
  std::size_t n = *len;
  if (buf_.size() - pos_ < 4 + n) {
    // Room for the whole frame at once: no regrowth (and recopying) while a big one arrives.
    if (n >= (1u << 20)) buf_.reserve(pos_ + 4 + n);
    return std::nullopt;
  }
  std::string body;
  if (pos_ == 0 && buf_.size() == 4 + n && n >= (1u << 20)) {
    // A big frame alone in the buffer: keep its memory (already touched) and drop the prefix.
    body = std::move(buf_);
    body.erase(0, 4);
    buf_.clear();
    pos_ = 0;
    consumed_ += 4 + n;
    ++frames_;
    return body;
  }
  body = buf_.substr(pos_ + 4, n);
  consume(4 + n);
  return body;
}

std::optional<FrameSplitter::TailFrame> FrameSplitter::take_tail_frame(std::size_t min_tail) {
  auto len = next_length();
  if (!len || *len < min_tail) return std::nullopt;
  std::size_t n = *len;
  std::string_view body(buf_.data() + pos_ + 4, buf_.size() - pos_ - 4);
  if (body.size() >= n) return std::nullopt;  // complete already: next() serves it
  if (scan_frame_ != consumed_) {
    scan_frame_ = consumed_;
    scan_at_ = 0;
    scan_none_ = false;
  }
  // Walk item headers until one is a bin whose body ends exactly at the frame's end. The walk
  // resumes where it stopped, so a frame arriving in many reads is scanned once.
  while (!scan_none_) {
    if (scan_at_ >= n) {
      scan_none_ = true;
      break;
    }
    if (scan_at_ >= body.size()) return std::nullopt;  // need more bytes
    std::size_t ilen = 0, bin = 0;
    if (!item_extent(body, scan_at_, ilen, bin)) return std::nullopt;  // header split: wait
    if (ilen == 0) {
      scan_none_ = true;
      break;
    }
    std::size_t data_at = scan_at_ + ilen;
    if (bin != SIZE_MAX) {
      if (data_at + bin == n) {
        if (bin < min_tail) {
          scan_none_ = true;
          break;
        }
        TailFrame t;
        t.head.assign(body.substr(0, data_at));
        t.bin_header = ilen;
        t.data = big_string(bin);
        t.filled = body.size() - std::min(body.size(), data_at);
        std::memcpy(t.data.data(), body.data() + data_at, t.filled);
        // Everything buffered belongs to this frame (it is incomplete): drop it all, and the
        // room next() may have reserved for it.
        consumed_ += 4 + n;
        ++frames_;
        if (buf_.capacity() > (4u << 20)) std::string().swap(buf_);
        buf_.clear();
        pos_ = 0;
        return t;
      }
      data_at += bin;
    }
    scan_at_ = data_at;
  }
  return std::nullopt;
}

}  // namespace provium::proto
