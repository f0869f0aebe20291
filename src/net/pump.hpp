// The userspace hop between a guest's NIC and its bridge port. Every member has one: frames
// the guest sends go to the port (a TAP enslaved to the bridge, so nft and tc act on them);
// frames the bridge delivers to the port come back here and are held for the configured delay
// before they reach the guest. Delay lives here rather than in netem because the kernels our
// users run (this project's CI host among them) do not all have sch_netem; every other
// impairment stays in the kernel.
//
// Guest ends: QEMU's `-netdev socket,fd=` (a stream socket, frames as a 4-byte big-endian
// length then the frame) or a TAP that was moved into a local sandbox (one frame per read).
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>

namespace provium::net {

using Mac = std::array<std::uint8_t, 6>;
Mac parse_mac(const std::string& text);  // "52:54:00:aa:bb:cc"

struct Delay {
  double ms = 0;
  double jitter_ms = 0;
  bool operator==(const Delay&) const = default;
};

class Pump {
 public:
  enum class GuestEnd { Stream, Frames };

  /// Takes ownership of `port_fd` (the bridge-side TAP) and of `guest_fd`.
  Pump(int port_fd, int guest_fd, GuestEnd kind);
  ~Pump();
  Pump(const Pump&) = delete;
  Pump& operator=(const Pump&) = delete;

  /// A new guest end (QEMU was restarted by a restore); the old one is closed.
  void replace_guest(int guest_fd);
  /// Delay towards the guest: `all` for every frame, `by_source` for frames from a MAC
  /// (replacing `all` for those frames).
  void set_delays(Delay all, std::map<Mac, Delay> by_source);
  /// Link down: frames both ways are dropped (the guest's side of nic:disconnect()).
  void set_connected(bool connected);

 private:
  void run();
  void from_guest(const std::string& frame);
  void to_guest(std::string frame);
  Delay delay_for(const std::string& frame);

  int port_fd_, guest_fd_;
  GuestEnd kind_;
  int wake_[2] = {-1, -1};
  std::mutex mu_;
  Delay all_;
  std::map<Mac, Delay> by_source_;
  bool connected_ = true;
  bool stop_ = false;
  int pending_guest_fd_ = -1;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>> held_;
  std::chrono::steady_clock::time_point last_due_{};
  std::string stream_in_;  // partial frames from a stream guest end
  std::string guest_out_;  // bytes waiting for the guest end to accept them
  std::mt19937_64 rng_{0x70726f7669756dULL};
  std::thread thread_;
};

}  // namespace provium::net
