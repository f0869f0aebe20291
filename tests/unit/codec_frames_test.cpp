// Framing fast paths of proto/codec: exactly sized frames, frames whose big bins are written
// from where they are (encode_framed_refs + write_framed), and big frames whose bin tail is
// received into its own buffer (FrameSplitter::take_tail_frame + decode_tail_frame). Each must
// put the same bytes on the wire, and give the same Values, as the plain paths.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>

#include "proto/codec.hpp"
#include "proto/fd_io.hpp"
#include "proto/protocol.hpp"

namespace {

using namespace provium::proto;

std::string pattern(std::size_t n, char seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + static_cast<char>(i * 7));
  return s;
}

Value reply(std::int64_t id, Value ok_value) {
  Map m;
  m["id"] = Value{id};
  m["kind"] = Value{"read_file_result"};
  m["payload"] = op_ok(std::move(ok_value));
  return Value{std::move(m)};
}

Value data_map(std::string bytes) {
  Map m;
  m["data"] = Value{Bytes{std::move(bytes)}};
  return Value{std::move(m)};
}

std::string wire_of(const FramedRefs& f) {
  std::string out;
  std::size_t from = 0;
  for (auto& r : f.refs) {
    out.append(f.bytes, from, r.at - from);
    out.append(r.data);
    from = r.at;
  }
  out.append(f.bytes, from);
  return out;
}

TEST(CodecFrames, EncodeFramedIsLengthPlusEncode) {
  Map m;
  m["f"] = Value{2.0};
  m["i"] = Value{-70000};
  m["s"] = Value{std::string(300, 's')};
  m["b"] = Value{Bytes{pattern(70000, 'b')}};
  m["a"] = Value{Array{Value{}, Value{true}, Value{std::int64_t{1} << 40}}};
  Value v{std::move(m)};
  EXPECT_EQ(encode_framed(v), frame(encode(v)));
  EXPECT_EQ(decode(encode(v)), v);
}

TEST(CodecFrames, RefsPutTheSameBytesOnTheWire) {
  Map exec;
  exec["stderr"] = Value{Bytes{pattern(200000, 'e')}};
  exec["stdout"] = Value{Bytes{pattern(300000, 'o')}};
  exec["small"] = Value{Bytes{"tiny"}};
  Value v = reply(42, Value{std::move(exec)});
  FramedRefs f = encode_framed_refs(v);
  EXPECT_EQ(f.refs.size(), 2u);
  EXPECT_LT(f.bytes.size(), 1000u);
  EXPECT_EQ(f.size(), encode_framed(v).size());
  EXPECT_EQ(wire_of(f), encode_framed(v));
}

TEST(CodecFrames, WriteFramedSurvivesShortWrites) {
  // A socket buffer far smaller than the frame forces many partial gathered writes.
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  int small = 4096;
  ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  Map exec;
  exec["a"] = Value{Bytes{pattern(1u << 20, 'a')}};
  exec["b"] = Value{Bytes{"between"}};
  exec["c"] = Value{Bytes{pattern(700000, 'c')}};
  Value v = reply(3, Value{std::move(exec)});
  std::string expected = encode_framed(v);
  std::string got;
  std::thread reader([&] {
    char buf[8192];
    while (got.size() < expected.size()) {
      ssize_t n = ::read(sv[1], buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
    }
  });
  EXPECT_TRUE(write_framed(sv[0], encode_framed_refs(v)));
  reader.join();
  ::close(sv[0]);
  ::close(sv[1]);
  EXPECT_EQ(got, expected);
}

// Feeds `wire` in `chunk`-sized pieces the way the host reader does; returns the bodies' Values.
std::vector<Value> receive(const std::string& wire, std::size_t chunk, std::size_t min_tail,
                           int* tails = nullptr) {
  FrameSplitter sp(kMaxFrameBytes);
  std::vector<Value> out;
  std::size_t pos = 0;
  while (pos < wire.size() || sp.pending()) {
    if (auto t = sp.take_tail_frame(min_tail)) {
      if (tails) ++*tails;
      std::size_t need = t->data.size() - t->filled;
      EXPECT_LE(pos + need, wire.size());
      std::memcpy(t->data.data() + t->filled, wire.data() + pos, need);
      pos += need;
      out.push_back(decode_tail_frame(std::move(*t)));
      continue;
    }
    if (auto body = sp.next()) {
      out.push_back(decode(*body));
      continue;
    }
    if (pos >= wire.size()) break;
    std::size_t n = std::min(chunk, wire.size() - pos);
    sp.feed(std::string_view(wire).substr(pos, n));
    pos += n;
  }
  return out;
}

TEST(CodecFrames, TailFrameAdoptsTheBinAndMatchesPlainDecoding) {
  Value small = reply(1, data_map("abcd"));
  Value big = reply(2, data_map(pattern(3u << 20, 'x')));
  Value after = reply(3, data_map(pattern(10, 'y')));
  std::string wire = encode_framed(small) + encode_framed(big) + encode_framed(after);
  for (std::size_t chunk : {std::size_t{7}, std::size_t{65536}, std::size_t{1} << 22}) {
    int tails = 0;
    auto got = receive(wire, chunk, 1u << 20, &tails);
    ASSERT_EQ(got.size(), 3u) << "chunk " << chunk;
    EXPECT_EQ(got[0], small);
    EXPECT_EQ(got[1], big);
    EXPECT_EQ(got[2], after);
    // With the whole stream in one read the big frame is complete: next() serves it.
    EXPECT_EQ(tails, chunk > wire.size() ? 0 : 1) << "chunk " << chunk;
  }
}

TEST(CodecFrames, FramesNotEndingInABigBinTakeThePlainPath) {
  Map exec;
  exec["stderr"] = Value{Bytes{pattern(2u << 20, 'e')}};  // big, but not last
  exec["stdout"] = Value{Bytes{"out"}};
  Value bin_first = reply(1, Value{std::move(exec)});
  Value text = reply(2, Value{std::string(2u << 20, 't')});  // str, not bin
  Value empty = reply(3, data_map(""));
  std::string wire = encode_framed(bin_first) + encode_framed(text) + encode_framed(empty);
  int tails = 0;
  auto got = receive(wire, 65536, 1u << 20, &tails);
  EXPECT_EQ(tails, 0);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], bin_first);
  EXPECT_EQ(got[1], text);
  EXPECT_EQ(got[2], empty);
}

TEST(CodecFrames, OversizedLengthStillThrows) {
  FrameSplitter sp(1024);
  sp.feed(std::string("\x00\x01\x00\x00", 4));
  EXPECT_THROW(sp.take_tail_frame(16), DecodeError);
  EXPECT_THROW(sp.next(), DecodeError);
}

TEST(CodecFrames, BigStringIsZeroed) {
  std::string s = big_string(5u << 20);
  ASSERT_EQ(s.size(), 5u << 20);
  EXPECT_EQ(s.find_first_not_of('\0'), std::string::npos);
  EXPECT_TRUE(big_string(0).empty());
}

}  // namespace
