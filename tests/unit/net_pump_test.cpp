// The NIC pump (src/net/pump.hpp) between socketpairs: a datagram pair stands in for the
// bridge-side TAP (one frame per read, like a TAP) and a stream pair for QEMU's
// `-netdev socket` end (4-byte big-endian length, then the frame).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "net/pump.hpp"

namespace provium::net {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// An Ethernet-looking frame from `src` (dst broadcast, type 0x0800, payload).
std::string frame_from(const Mac& src, const std::string& payload) {
  std::string f(6, '\xff');
  f.append(reinterpret_cast<const char*>(src.data()), 6);
  f.append("\x08\x00", 2);
  return f + payload;
}

std::optional<std::string> recv_frame(int fd, std::chrono::milliseconds limit) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(limit.count())) <= 0) return std::nullopt;
  char buf[70000];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n <= 0) return std::nullopt;
  return std::string(buf, static_cast<size_t>(n));
}

// Reads one length-prefixed frame from a stream socket (bytes of later frames are kept for
// the next call).
std::map<int, std::string> pending;  // by fd; cleared when a rig closes its sockets

std::optional<std::string> recv_stream_frame(int fd, std::chrono::milliseconds limit) {
  std::string& got = pending[fd];
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (got.size() >= 4) {
      std::uint32_t len;
      std::memcpy(&len, got.data(), 4);
      len = ntohl(len);
      if (got.size() >= 4 + len) {
        std::string f = got.substr(4, len);
        got.erase(0, 4 + len);
        return f;
      }
    }
    pollfd p{fd, POLLIN, 0};
    int ms = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (::poll(&p, 1, std::max(ms, 1)) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return std::nullopt;
    got.append(buf, static_cast<size_t>(n));
  }
  return std::nullopt;
}

void send_stream_frame(int fd, const std::string& f) {
  std::uint32_t len = htonl(static_cast<std::uint32_t>(f.size()));
  std::string out(reinterpret_cast<const char*>(&len), 4);
  out += f;
  ASSERT_EQ(::write(fd, out.data(), out.size()), static_cast<ssize_t>(out.size()));
}

struct Rig {
  int port_peer = -1, guest_peer = -1;  // the test's ends
  std::unique_ptr<Pump> pump;
  Rig() {
    int port[2], guest[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, port), 0);
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, guest), 0);
    port_peer = port[1];
    guest_peer = guest[1];
    pump = std::make_unique<Pump>(port[0], guest[0], Pump::GuestEnd::Stream);
  }
  ~Rig() {
    pump.reset();
    pending.clear();
    ::close(port_peer);
    ::close(guest_peer);
  }
};

const Mac kA = {0x52, 0x54, 0x00, 0, 0, 0xa};
const Mac kB = {0x52, 0x54, 0x00, 0, 0, 0xb};

TEST(NetPump, CarriesFramesBothWaysWithTheGuestsStreamFraming) {
  Rig r;
  auto f = frame_from(kA, "from the guest");
  send_stream_frame(r.guest_peer, f);
  EXPECT_EQ(recv_frame(r.port_peer, 2s), f);
  auto g = frame_from(kB, "to the guest");
  ASSERT_EQ(::send(r.port_peer, g.data(), g.size(), 0), static_cast<ssize_t>(g.size()));
  EXPECT_EQ(recv_stream_frame(r.guest_peer, 2s), g);
}

TEST(NetPump, HoldsFramesTowardsTheGuestForTheDelayAndOnlyForTheNamedSource) {
  Rig r;
  r.pump->set_delays({0, 0}, {{kA, {150, 0}}});
  auto slow = frame_from(kA, "slow");
  auto t0 = Clock::now();
  ::send(r.port_peer, slow.data(), slow.size(), 0);
  EXPECT_EQ(recv_stream_frame(r.guest_peer, 2s), slow);
  auto took = Clock::now() - t0;
  EXPECT_GE(took, 145ms);
  EXPECT_LT(took, 1500ms);
  auto fast = frame_from(kB, "fast");
  t0 = Clock::now();
  ::send(r.port_peer, fast.data(), fast.size(), 0);
  EXPECT_EQ(recv_stream_frame(r.guest_peer, 2s), fast);
  EXPECT_LT(Clock::now() - t0, 100ms) << "frames from other sources are not held";
  // The guest's own frames are never delayed here (the other side's pump does that).
  auto out = frame_from(kA, "out");
  t0 = Clock::now();
  send_stream_frame(r.guest_peer, out);
  EXPECT_EQ(recv_frame(r.port_peer, 2s), out);
  EXPECT_LT(Clock::now() - t0, 100ms);
}

TEST(NetPump, KeepsTheOrderOfHeldFrames) {
  Rig r;
  r.pump->set_delays({60, 40}, {});
  for (int i = 0; i < 20; ++i) {
    auto f = frame_from(kA, "n" + std::to_string(i));
    ::send(r.port_peer, f.data(), f.size(), 0);
  }
  for (int i = 0; i < 20; ++i) {
    auto got = recv_stream_frame(r.guest_peer, 2s);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->substr(14), "n" + std::to_string(i)) << "jitter never reorders";
  }
}

TEST(NetPump, DisconnectedDropsBothWaysAndReconnectResumes) {
  Rig r;
  r.pump->set_connected(false);
  auto f = frame_from(kA, "lost");
  send_stream_frame(r.guest_peer, f);
  ::send(r.port_peer, f.data(), f.size(), 0);
  EXPECT_FALSE(recv_frame(r.port_peer, 200ms));
  EXPECT_FALSE(recv_stream_frame(r.guest_peer, 200ms));
  r.pump->set_connected(true);
  send_stream_frame(r.guest_peer, f);
  EXPECT_EQ(recv_frame(r.port_peer, 2s), f);
}

TEST(NetPump, ANewGuestEndTakesOverAfterARestore) {
  Rig r;
  int fresh[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fresh), 0);
  r.pump->replace_guest(fresh[0]);
  auto g = frame_from(kB, "after restore");
  std::this_thread::sleep_for(50ms);  // the pump switches on its next round
  ::send(r.port_peer, g.data(), g.size(), 0);
  EXPECT_EQ(recv_stream_frame(fresh[1], 2s), g);
  pending.erase(fresh[1]);
  ::close(fresh[1]);
}

TEST(NetPump, ParsesMacs) {
  EXPECT_EQ(parse_mac("52:54:00:0a:bb:cc"), (Mac{0x52, 0x54, 0x00, 0x0a, 0xbb, 0xcc}));
  EXPECT_THROW(parse_mac("nonsense"), std::runtime_error);
}

}  // namespace
}  // namespace provium::net
