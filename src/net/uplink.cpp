#include "net/uplink.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>

namespace provium::net {
namespace {

// One relayed connection: guest side (accepted in the namespace) and host side (127.0.0.1).
struct Relay {
  int guest = -1, host = -1;
  std::string to_host, to_guest;  // bytes read but not yet written
  bool guest_eof = false, host_eof = false;
};

void close_relay(Relay& r) {
  if (r.guest >= 0) ::close(r.guest);
  if (r.host >= 0) ::close(r.host);
  r.guest = r.host = -1;
}

}  // namespace

UplinkProxy::UplinkProxy(const NetNamespace& ns) {
  // The listener must live in the namespace: create it on a thread that joined it.
  std::string err;
  std::thread([&] {
    if (::setns(ns.fd(), CLONE_NEWNET) != 0) {
      err = fmt::format("setns: {}", std::strerror(errno));
      return;
    }
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    socklen_t len = sizeof a;
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listen_fd_, 64) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      err = fmt::format("uplink listener: {}", std::strerror(errno));
    port_ = ntohs(a.sin_port);
  }).join();
  if (!err.empty()) {
    if (listen_fd_ >= 0) ::close(listen_fd_);
    throw std::runtime_error(err);
  }
  if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("pipe failed");
  // This thread stays in provium's own namespace: its connections go to the host's loopback.
  thread_ = std::thread([this] { run(); });
}

UplinkProxy::~UplinkProxy() {
  (void)!::write(wake_[1], "x", 1);
  thread_.join();
  for (int fd : {listen_fd_, wake_[0], wake_[1]})
    if (fd >= 0) ::close(fd);
}

void UplinkProxy::run() {
  std::map<int, Relay> relays;  // by an id
  int next_id = 0;
  char buf[65536];
  while (true) {
    std::vector<pollfd> fds = {{wake_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    std::vector<std::pair<int, bool>> who;  // (relay id, is guest side)
    for (auto& [id, r] : relays) {
      short g = static_cast<short>((r.guest_eof || r.to_host.size() > sizeof buf ? 0 : POLLIN) |
                                   (r.to_guest.empty() ? 0 : POLLOUT));
      short h = static_cast<short>((r.host_eof || r.to_guest.size() > sizeof buf ? 0 : POLLIN) |
                                   (r.to_host.empty() ? 0 : POLLOUT));
      fds.push_back({r.guest, g, 0});
      who.push_back({id, true});
      fds.push_back({r.host, h, 0});
      who.push_back({id, false});
    }
    if (::poll(fds.data(), fds.size(), -1) < 0) continue;
    if (fds[0].revents) {
      for (auto& [id, r] : relays) close_relay(r);
      return;
    }
    if (fds[1].revents & POLLIN) {
      int g = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (g >= 0) {
        sockaddr_in orig{};
        socklen_t len = sizeof orig;
        // Where the guest wanted to go before nft redirected it here: that port, on loopback.
        if (::getsockopt(g, SOL_IP, SO_ORIGINAL_DST, &orig, &len) == 0) {
          int h = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
          sockaddr_in lo{};
          lo.sin_family = AF_INET;
          lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
          lo.sin_port = orig.sin_port;
          if (h >= 0 && ::connect(h, reinterpret_cast<sockaddr*>(&lo), sizeof lo) == 0) {
            ::fcntl(h, F_SETFL, ::fcntl(h, F_GETFL) | O_NONBLOCK);
            relays[next_id++] = Relay{g, h, {}, {}, false, false};
            g = -1;
          } else if (h >= 0) {
            ::close(h);
          }
        }
        if (g >= 0) ::close(g);  // nothing listens there: the guest sees the connection close
      }
    }
    for (size_t i = 2; i < fds.size(); ++i) {
      auto it = relays.find(who[i - 2].first);
      if (it == relays.end()) continue;
      Relay& r = it->second;
      bool guest_side = who[i - 2].second;
      int fd = guest_side ? r.guest : r.host;
      std::string& in = guest_side ? r.to_host : r.to_guest;
      std::string& out = guest_side ? r.to_guest : r.to_host;
      bool& eof = guest_side ? r.guest_eof : r.host_eof;
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0)
          in.append(buf, static_cast<size_t>(n));
        else if (n == 0 || (errno != EAGAIN && errno != EINTR))
          eof = true;
      }
      if ((fds[i].revents & POLLOUT) && !out.empty()) {
        ssize_t n = ::write(fd, out.data(), out.size());
        if (n > 0) out.erase(0, static_cast<size_t>(n));
      }
    }
    // Half-closes travel; a relay ends when both sides are done and nothing is left to write.
    for (auto it = relays.begin(); it != relays.end();) {
      Relay& r = it->second;
      if (r.guest_eof && r.to_host.empty()) ::shutdown(r.host, SHUT_WR);
      if (r.host_eof && r.to_guest.empty()) ::shutdown(r.guest, SHUT_WR);
      if (r.guest_eof && r.host_eof && r.to_host.empty() && r.to_guest.empty()) {
        close_relay(r);
        it = relays.erase(it);
      } else {
        ++it;
      }
    }
  }
}

}  // namespace provium::net
