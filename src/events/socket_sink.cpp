// --events-socket: a Unix listener with its own thread. emit() only appends to per-client
// queues; the thread accepts clients and writes with non-blocking sockets. A client that
// makes no progress for 100 ms (or lets 16 MiB pile up) is dropped, so a stalled consumer
// can never slow the run.
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <optional>
#include <vector>
#include <list>
#include <mutex>
#include <thread>

#include "events/bus.hpp"

namespace provium::events {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kStallLimit = std::chrono::milliseconds(100);
constexpr size_t kQueueLimit = 16u << 20;

struct Client {
  int fd;
  std::string pending;  // bytes not yet written
  std::optional<Clock::time_point> stalled_since;
};

class SocketSink : public Sink {
 public:
  SocketSink(int listen_fd, std::string path) : listen_fd_(listen_fd), path_(std::move(path)) {
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    thread_ = std::thread([this] { loop(); });
  }
  ~SocketSink() override {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    wake();
    thread_.join();
    // Flush what can be flushed quickly so a consumer sees the run's last frames.
    for (auto& c : clients_) {
      ::fcntl(c.fd, F_SETFL, 0);
      struct timeval tv{0, 200000};
      ::setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      if (!c.pending.empty()) (void)!::write(c.fd, c.pending.data(), c.pending.size());
      ::close(c.fd);
    }
    ::close(listen_fd_);
    ::close(wake_fd_);
    ::unlink(path_.c_str());
  }

  void write(const std::string& frame) override {
    std::lock_guard lk(mu_);
    for (auto& c : clients_) c.pending += frame;
    wake();
  }

 private:
  void wake() {
    uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
  }

  void drop(std::list<Client>::iterator& it, const char* why) {
    if (why) fmt::print(stderr, "provium: --events-socket: dropping a client: {}\n", why);
    ::close(it->fd);
    it = clients_.erase(it);
  }

  void loop() {
    while (true) {
      std::vector<pollfd> fds;
      {
        std::lock_guard lk(mu_);
        if (stop_) return;
        fds.push_back({listen_fd_, POLLIN, 0});
        fds.push_back({wake_fd_, POLLIN, 0});
        for (auto& c : clients_) fds.push_back({c.fd, static_cast<short>(c.pending.empty() ? POLLIN : POLLIN | POLLOUT), 0});
      }
      ::poll(fds.data(), fds.size(), 50);
      uint64_t drained;
      while (::read(wake_fd_, &drained, sizeof drained) > 0) {
      }
      std::lock_guard lk(mu_);
      if (fds[0].revents & POLLIN) {
        int fd;
        while ((fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
          clients_.push_back(Client{fd, {}, std::nullopt});
      }
      auto now = Clock::now();
      for (auto it = clients_.begin(); it != clients_.end();) {
        // Clients never send; readable means closed (or garbage we ignore).
        char sink[256];
        ssize_t r = ::recv(it->fd, sink, sizeof sink, MSG_DONTWAIT);
        if (r == 0) {
          drop(it, nullptr);  // disconnected: not worth a message
          continue;
        }
        if (!it->pending.empty()) {
          ssize_t w = ::send(it->fd, it->pending.data(), it->pending.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
          if (w > 0) {
            it->pending.erase(0, static_cast<size_t>(w));
            it->stalled_since.reset();
          } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            drop(it, nullptr);
            continue;
          } else if (!it->stalled_since) {
            it->stalled_since = now;
          }
          if (!it->pending.empty() && it->stalled_since && now - *it->stalled_since > kStallLimit) {
            drop(it, "it stopped reading for more than 100 ms");
            continue;
          }
          if (it->pending.size() > kQueueLimit) {
            drop(it, "it fell more than 16 MiB behind");
            continue;
          }
        }
        ++it;
      }
    }
  }

  int listen_fd_, wake_fd_ = -1;
  std::string path_;
  std::mutex mu_;
  std::list<Client> clients_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Sink> make_socket_sink(const std::string& path, std::string& error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    error = fmt::format("socket path `{}` is longer than {} bytes", path, sizeof addr.sun_path - 1);
    return nullptr;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      error = fmt::format("`{}` exists and is not a socket; choose another path", path);
      return nullptr;
    }
    // A socket file: live (another provium) or stale (a killed run). Only a stale one is replaced.
    int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool live = probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    if (probe >= 0) ::close(probe);
    if (live) {
      error = fmt::format("`{}` is in use by another listener; choose another path", path);
      return nullptr;
    }
    ::unlink(path.c_str());
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 64) != 0) {
    error = fmt::format("cannot listen on `{}`: {}", path, std::strerror(errno));
    if (fd >= 0) ::close(fd);
    return nullptr;
  }
  return std::make_unique<SocketSink>(fd, path);
}

}  // namespace provium::events
