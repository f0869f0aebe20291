#include "net/capture.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "vmm/spawner.hpp"

namespace provium::net {
namespace {

constexpr std::size_t kMaxCaptureBytes = 256u << 20;  // beyond this, bytes are dropped (counted)

}  // namespace

PacketCapture::PacketCapture(const NetNamespace& ns, const std::string& device, std::string label,
                             std::function<void()> on_stop)
    : label_(std::move(label)), on_stop_(std::move(on_stop)) {
  auto fail = [&](const std::string& why) {
    if (on_stop_) on_stop_();
    on_stop_ = nullptr;
    throw std::runtime_error(fmt::format("{}: {}", label_, why));
  };
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) fail(fmt::format("pipe: {}", std::strerror(errno)));
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    fail(fmt::format("pipe: {}", std::strerror(errno)));
  }
  vmm::SpawnSpec spec;
  // --immediate-mode: every packet is handed over at once (not when a ring block fills).
  // -Z root: no privilege drop, which would clear PR_SET_PDEATHSIG and let tcpdump (and with
  // it the file's namespace) outlive a killed provium.
  spec.argv = {"tcpdump", "-i", device, "--immediate-mode", "-U", "-n", "-Z", "root", "-s",
               "65535",   "-w", "-"};
  spec.stdout_fd = out[1];
  spec.stderr_fd = err[1];
  spec.netns_fd = ns.fd();
  std::string spawn_err;
  try {
    pid_ = vmm::spawn_process(spec);
  } catch (const std::exception& e) {
    spawn_err = e.what();
  }
  ::close(out[1]);
  ::close(err[1]);
  if (pid_ < 0) {
    ::close(out[0]);
    ::close(err[0]);
    fail(fmt::format("cannot start tcpdump: {} (install it: apt-get install tcpdump)", spawn_err));
  }
  // Ready when tcpdump reports "listening on"; its stderr otherwise explains the failure.
  std::string msg;
  bool listening = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!listening && std::chrono::steady_clock::now() < deadline) {
    pollfd p{err[0], POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[512];
    ssize_t n = ::read(err[0], buf, sizeof buf);
    if (n <= 0) break;
    msg.append(buf, static_cast<std::size_t>(n));
    listening = msg.find("listening on") != std::string::npos;
  }
  if (!listening) {
    ::close(err[0]);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    ::close(out[0]);
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    fail(fmt::format("tcpdump did not start: {}", msg.empty() ? "no output" : msg));
  }
  feeder_ = std::thread([st = st_, fd = out[0], efd = err[0]] {
    // tcpdump keeps writing to stderr (warnings, the final statistics): drained here, so it
    // never dies of SIGPIPE before it has flushed the last packets.
    std::thread errs([efd] {
      char b[512];
      while (::read(efd, b, sizeof b) > 0) {
      }
      ::close(efd);
    });
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) {
      std::lock_guard lk(st->mu);
      if (st->data.size() + static_cast<std::size_t>(n) > kMaxCaptureBytes)
        st->dropped += static_cast<std::size_t>(n);
      else
        st->data.append(buf, static_cast<std::size_t>(n));
      st->cv.notify_all();
    }
    ::close(fd);
    errs.join();
    std::lock_guard lk(st->mu);
    st->ended = true;
    st->cv.notify_all();
  });
}

PacketCapture::~PacketCapture() { stop(); }

void PacketCapture::stop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGINT);  // tcpdump flushes and exits
    for (int i = 0; i < 40 && ::waitpid(pid_, nullptr, WNOHANG) == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    if (::waitpid(pid_, nullptr, WNOHANG) == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    pid_ = -1;
  }
  if (feeder_.joinable()) feeder_.join();
  // After tcpdump has flushed: the mirror it listened on may go now.
  if (on_stop_) {
    auto f = std::move(on_stop_);
    on_stop_ = nullptr;
    try {
      f();
    } catch (...) {
    }
  }
}

std::optional<std::string> PacketCapture::read(double timeout_s) {
  std::unique_lock lk(st_->mu);
  st_->cv.wait_for(lk, std::chrono::duration<double>(timeout_s),
                   [&] { return st_->read_pos < st_->data.size() || st_->ended; });
  if (st_->read_pos >= st_->data.size() && st_->ended) return std::nullopt;
  std::string chunk = st_->data.substr(st_->read_pos);
  st_->read_pos = st_->data.size();
  return chunk;
}

std::string PacketCapture::bytes() const {
  std::lock_guard lk(st_->mu);
  return st_->data;
}

std::size_t PacketCapture::save(const std::string& path) {
  stop();
  std::string data = bytes();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  out.flush();
  if (!out)
    throw std::runtime_error(fmt::format("cannot write `{}`: {}", path, std::strerror(errno)));
  return data.size();
}

}  // namespace provium::net
