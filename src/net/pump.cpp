#include "net/pump.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace provium::net {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxFrame = 65536;
constexpr size_t kMaxGuestBacklog = 4u << 20;  // beyond this a stalled guest loses frames
constexpr size_t kMaxHeld = 100000;            // frames held for delay

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

}  // namespace

Mac parse_mac(const std::string& text) {
  Mac m{};
  unsigned v[6];
  if (std::sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
    throw std::runtime_error("bad MAC address `" + text + "`");
  for (int i = 0; i < 6; ++i) m[i] = static_cast<std::uint8_t>(v[i]);
  return m;
}

Pump::Pump(int port_fd, int guest_fd, GuestEnd kind)
    : port_fd_(port_fd), guest_fd_(guest_fd), kind_(kind) {
  if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("pipe failed");
  set_nonblocking(port_fd_);
  set_nonblocking(guest_fd_);
  thread_ = std::thread([this] { run(); });
}

Pump::~Pump() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  (void)!::write(wake_[1], "x", 1);
  thread_.join();
  for (int fd : {port_fd_, guest_fd_, pending_guest_fd_, wake_[0], wake_[1]})
    if (fd >= 0) ::close(fd);
}

void Pump::replace_guest(int guest_fd) {
  set_nonblocking(guest_fd);
  {
    std::lock_guard lk(mu_);
    if (pending_guest_fd_ >= 0) ::close(pending_guest_fd_);
    pending_guest_fd_ = guest_fd;
  }
  (void)!::write(wake_[1], "x", 1);
}

void Pump::set_delays(Delay all, std::map<Mac, Delay> by_source) {
  std::lock_guard lk(mu_);
  all_ = all;
  by_source_ = std::move(by_source);
}

void Pump::set_connected(bool connected) {
  std::lock_guard lk(mu_);
  connected_ = connected;
  if (kind_ == GuestEnd::Frames) {
    // A sandbox's TAP: the guest sees its carrier go (as a QEMU guest sees set_link).
    int on = connected ? 1 : 0;
    ::ioctl(guest_fd_, TUNSETCARRIER, &on);
  }
}

Delay Pump::delay_for(const std::string& frame) {
  if (frame.size() >= 12) {
    Mac src;
    std::memcpy(src.data(), frame.data() + 6, 6);
    if (auto it = by_source_.find(src); it != by_source_.end()) return it->second;
  }
  return all_;
}

void Pump::from_guest(const std::string& frame) {
  {
    std::lock_guard lk(mu_);
    if (!connected_) return;
  }
  // A TAP write either takes the whole frame or fails (then the frame is lost, as on a wire).
  (void)!::write(port_fd_, frame.data(), frame.size());
}

void Pump::to_guest(std::string frame) {
  if (kind_ == GuestEnd::Stream) {
    std::uint32_t len = htonl(static_cast<std::uint32_t>(frame.size()));
    if (guest_out_.size() + frame.size() + 4 > kMaxGuestBacklog) return;
    guest_out_.append(reinterpret_cast<const char*>(&len), 4);
    guest_out_ += frame;
  } else {
    (void)!::write(guest_fd_, frame.data(), frame.size());
  }
}

void Pump::run() {
  std::string buf(kMaxFrame, '\0');
  while (true) {
    auto now = Clock::now();
    int timeout_ms = -1;
    {
      std::lock_guard lk(mu_);
      if (stop_) return;
      if (pending_guest_fd_ >= 0) {
        ::close(guest_fd_);
        guest_fd_ = pending_guest_fd_;
        pending_guest_fd_ = -1;
        stream_in_.clear();
        guest_out_.clear();
      }
    }
    // Frames whose delay is over go to the guest, in order.
    while (!held_.empty() && held_.front().first <= now) {
      to_guest(std::move(held_.front().second));
      held_.pop_front();
    }
    if (!held_.empty())
      timeout_ms = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(held_.front().first - now).count() +
          1);
    pollfd fds[3] = {
        {wake_[0], POLLIN, 0},
        {port_fd_, POLLIN, 0},
        {guest_fd_, static_cast<short>(POLLIN | (guest_out_.empty() ? 0 : POLLOUT)), 0}};
    if (::poll(fds, 3, timeout_ms) < 0) continue;
    if (fds[0].revents) {
      char drain[64];
      while (::read(wake_[0], drain, sizeof drain) > 0) {
      }
    }
    if (fds[1].revents & POLLIN) {
      // What the bridge delivers to this guest: held for its delay, or passed on at once.
      for (int i = 0; i < 64; ++i) {
        ssize_t n = ::read(port_fd_, buf.data(), buf.size());
        if (n <= 0) break;
        std::string frame(buf.data(), static_cast<size_t>(n));
        Delay d;
        bool up;
        {
          std::lock_guard lk(mu_);
          up = connected_;
          d = delay_for(frame);
        }
        if (!up) continue;
        if (d.ms <= 0 && d.jitter_ms <= 0 && held_.empty()) {
          to_guest(std::move(frame));
          continue;
        }
        double ms = d.ms;
        if (d.jitter_ms > 0)
          ms += std::uniform_real_distribution<double>(-d.jitter_ms, d.jitter_ms)(rng_);
        auto due = Clock::now() +
                   std::chrono::microseconds(static_cast<std::int64_t>(std::max(0.0, ms) * 1000));
        if (due < last_due_) due = last_due_;  // no reordering: a wire keeps the order
        last_due_ = due;
        if (held_.size() < kMaxHeld) held_.emplace_back(due, std::move(frame));
      }
    }
    if (fds[2].revents & (POLLIN | POLLHUP | POLLERR)) {
      for (int i = 0; i < 64; ++i) {
        ssize_t n = ::read(guest_fd_, buf.data(), buf.size());
        if (n <= 0) break;
        if (kind_ == GuestEnd::Frames) {
          from_guest(std::string(buf.data(), static_cast<size_t>(n)));
          continue;
        }
        stream_in_.append(buf.data(), static_cast<size_t>(n));
        while (stream_in_.size() >= 4) {
          std::uint32_t len;
          std::memcpy(&len, stream_in_.data(), 4);
          len = ntohl(len);
          if (len > kMaxFrame) {  // not our framing: start over rather than forward garbage
            stream_in_.clear();
            break;
          }
          if (stream_in_.size() < 4 + len) break;
          from_guest(stream_in_.substr(4, len));
          stream_in_.erase(0, 4 + len);
        }
      }
    }
    if (!guest_out_.empty()) {  // also right after new frames: no extra poll round for them
      ssize_t n = ::write(guest_fd_, guest_out_.data(), guest_out_.size());
      if (n > 0) guest_out_.erase(0, static_cast<size_t>(n));
    }
  }
}

}  // namespace provium::net
