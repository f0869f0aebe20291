#include "lab/console.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "lab/session.hpp"

namespace provium::lab {

using Clock = std::chrono::steady_clock;

std::string read_console_log(const std::string& path, std::uint64_t offset, std::size_t cap) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(static_cast<std::streamoff>(offset));
  std::string s(cap, '\0');
  in.read(s.data(), static_cast<std::streamsize>(cap));
  s.resize(static_cast<std::size_t>(in.gcount()));
  return s;
}

std::uint64_t console_log_size(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  return in ? static_cast<std::uint64_t>(in.tellg()) : 0;
}

std::uint64_t expect_in_console(const std::string& path, std::uint64_t cursor,
                                const std::string& needle, double timeout_s,
                                const std::function<std::string()>& interrupted) {
  auto deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000));
  std::string window;  // unmatched bytes since the cursor, trimmed to a needle's length
  std::uint64_t window_start = cursor;
  while (true) {
    window += read_console_log(path, window_start + window.size());
    if (auto at = window.find(needle); at != std::string::npos)
      return window_start + at + needle.size();
    if (window.size() > needle.size()) {
      std::size_t drop = window.size() - needle.size();
      window.erase(0, drop);
      window_start += drop;
    }
    if (Clock::now() >= deadline)
      throw Error(fmt::format("console:expect timed out waiting for `{}`", needle));
    if (interrupted)
      if (std::string why = interrupted(); !why.empty()) throw Error(why);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void follow_console(const std::weak_ptr<Vm>& weak_vm, const std::string& path,
                    const std::shared_ptr<client::StreamChannel>& ch) {
  std::uint64_t start = console_log_size(path);
  std::thread([ch, path, start, weak_vm] {
    std::uint64_t off = start;
    while (!ch->closed()) {
      auto vm = weak_vm.lock();
      if (!vm || !vm->machine() || vm->machine()->console_log_path() != path)
        break;  // shut down or replaced
      vm.reset();
      std::string fresh = read_console_log(path, off, 64 << 10);
      if (!fresh.empty()) {
        off += fresh.size();
        ch->deliver(std::move(fresh));
        continue;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ch->finish("eof");
  }).detach();
}

std::size_t write_console(const std::string& sock, const std::string& data, double secs) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, sock.c_str(), std::min(sock.size() + 1, sizeof a.sun_path));
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    int e = errno;
    if (fd >= 0) ::close(fd);
    throw Error(fmt::format("cannot connect to the console: {}", std::strerror(e)));
  }
  auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<long long>(secs * 1000));
  std::size_t off = 0;
  while (off < data.size()) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (secs > 0 && left <= 0) break;
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, secs > 0 ? static_cast<int>(left) : 1000) <= 0) continue;
    ssize_t w = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (w < 0 && errno != EINTR && errno != EAGAIN) break;
    if (w > 0) off += static_cast<std::size_t>(w);
  }
  // Give QEMU a moment to take the bytes before the connection goes (it reads asynchronously).
  ::shutdown(fd, SHUT_WR);
  pollfd p{fd, POLLIN, 0};
  ::poll(&p, 1, 100);
  ::close(fd);
  return off;
}

}  // namespace provium::lab
