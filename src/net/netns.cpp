#include "net/netns.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <thread>

namespace provium::net {
namespace {

// Runs `f` on a fresh thread that has joined (or, with fd < 0, unshared) a network namespace:
// namespace membership is per thread, so the caller's own thread never moves.
void on_ns_thread(int fd, const std::function<void()>& f) {
  std::exception_ptr err;
  std::thread([&] {
    try {
      if (fd < 0 ? ::unshare(CLONE_NEWNET) != 0 : ::setns(fd, CLONE_NEWNET) != 0)
        throw std::runtime_error(
            fmt::format("cannot {} a network namespace: {} (provium needs root or CAP_SYS_ADMIN "
                        "for labs with bridges)",
                        fd < 0 ? "create" : "enter", std::strerror(errno)));
      f();
    } catch (...) {
      err = std::current_exception();
    }
  }).join();
  if (err) std::rethrow_exception(err);
}

void set_loopback_up() {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) throw std::runtime_error(fmt::format("socket: {}", std::strerror(errno)));
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
    ifr.ifr_flags |= IFF_UP;
    ::ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  ::close(s);
}

std::string drain(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

}  // namespace

NetNamespace::NetNamespace() {
  on_ns_thread(-1, [&] {
    fd_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (fd_ < 0)
      throw std::runtime_error(
          fmt::format("open /proc/thread-self/ns/net: {}", std::strerror(errno)));
    set_loopback_up();
  });
}

NetNamespace::~NetNamespace() {
  if (fd_ >= 0) ::close(fd_);
}

CommandResult NetNamespace::run(const std::vector<std::string>& argv,
                                const std::string& input) const {
  CommandResult r;
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC))
    throw std::runtime_error(fmt::format("pipe: {}", std::strerror(errno)));
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(fmt::format("fork: {}", std::strerror(errno)));
  if (pid == 0) {
    // Child of a threaded process: async-signal-safe calls only until exec.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::setns(fd_, CLONE_NEWNET) != 0) ::_exit(126);
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  // Small inputs and outputs (command batches, `ip -j` output): write, then read both pipes.
  std::thread writer([&] {
    size_t off = 0;
    while (off < input.size()) {
      ssize_t n = ::write(in[1], input.data() + off, input.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    ::close(in[1]);
  });
  std::thread err_reader([&] { r.err = drain(err[0]); });
  r.out = drain(out[0]);
  err_reader.join();
  writer.join();
  ::close(out[0]);
  ::close(err[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (r.exit_code == 127 && r.err.empty())
    r.err = fmt::format("`{}` not found on PATH (install it: apt-get install {})", argv[0],
                        argv[0] == "tcpdump" ? "tcpdump"
                        : argv[0] == "nft"   ? "nftables"
                                             : "iproute2");
  return r;
}

std::string NetNamespace::check(const std::vector<std::string>& argv, const std::string& input,
                                const std::string& what) const {
  auto r = run(argv, input);
  if (!r.ok()) {
    std::string cmd;
    for (auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    std::string e = r.err;
    while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
    for (auto& c : e)
      if (c == '\n') c = ' ';
    throw std::runtime_error(fmt::format("{}: `{}` failed: {}", what, cmd, e));
  }
  return r.out;
}

int NetNamespace::open_tap(const std::string& name) const {
  int tap = -1;
  on_ns_thread(fd_, [&] {
    tap = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (tap < 0)
      throw std::runtime_error(fmt::format("open /dev/net/tun: {}", std::strerror(errno)));
    ifreq ifr{};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    if (::ioctl(tap, TUNSETIFF, &ifr) != 0) {
      int e = errno;
      ::close(tap);
      tap = -1;
      throw std::runtime_error(fmt::format("TUNSETIFF {}: {}", name, std::strerror(e)));
    }
  });
  return tap;
}

}  // namespace provium::net
