#include "vmm/qemu/qmp.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace provium::vmm::qemu {

namespace {
constexpr std::size_t kMaxEventsKept = 256;
}

Qmp::~Qmp() { close(); }

void Qmp::close() {
  std::lock_guard lk(mu_);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void Qmp::connect(const std::string& path, Clock::time_point deadline,
                  const std::function<bool()>& alive) {
  std::lock_guard lk(mu_);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    throw QmpError(fmt::format("qmp: socket path too long: {}", path));
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  std::string last = "socket not created";
  while (true) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw QmpError(fmt::format("qmp: socket: {}", std::strerror(errno)));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      fd_ = fd;
      break;
    }
    last = std::strerror(errno);
    ::close(fd);
    if (Clock::now() >= deadline)
      throw QmpError(fmt::format("qmp: cannot connect to {}: {}", path, last));
    if (alive && !alive()) throw QmpError("qmp: QEMU exited before its monitor socket accepted");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto greeting = read_message(deadline);
  if (!greeting || !greeting->contains("QMP")) throw QmpError("qmp: no greeting from QEMU");
  execute("qmp_capabilities", Json::object(),
          std::chrono::duration_cast<std::chrono::milliseconds>(
              std::max(deadline - Clock::now(), Clock::duration(std::chrono::seconds(1)))));
}

void Qmp::send_line(const std::string& line, int fd_to_pass) {
  if (fd_ < 0) throw QmpError("qmp: not connected");
  std::size_t off = 0;
  while (off < line.size()) {
    iovec iov{const_cast<char*>(line.data() + off), line.size() - off};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))];
    if (fd_to_pass >= 0 && off == 0) {
      std::memset(ctrl, 0, sizeof ctrl);
      msg.msg_control = ctrl;
      msg.msg_controllen = sizeof ctrl;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &fd_to_pass, sizeof(int));
    }
    ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw QmpError(fmt::format("qmp: write: {}", std::strerror(errno)));
    }
    off += static_cast<std::size_t>(n);
  }
}

std::optional<Qmp::Json> Qmp::read_message(Clock::time_point deadline) {
  while (true) {
    auto nl = inbuf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = inbuf_.substr(0, nl);
      inbuf_.erase(0, nl + 1);
      if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
      try {
        return Json::parse(line);
      } catch (const std::exception& e) {
        throw QmpError(fmt::format("qmp: malformed message from QEMU: {}", e.what()));
      }
    }
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
    if (r < 0 && errno != EINTR) throw QmpError(fmt::format("qmp: poll: {}", std::strerror(errno)));
    if (r <= 0) continue;
    char buf[8192];
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n == 0) throw QmpError("qmp: QEMU closed its monitor connection");
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw QmpError(fmt::format("qmp: read: {}", std::strerror(errno)));
    }
    inbuf_.append(buf, static_cast<std::size_t>(n));
  }
}

Qmp::Json Qmp::await_reply(Clock::time_point deadline, const std::string& what) {
  while (true) {
    auto m = read_message(deadline);
    if (!m) throw QmpError(fmt::format("qmp: `{}` got no reply in time (QEMU hung?)", what));
    if (m->contains("event")) {
      events_.push_back({next_seq_++, std::move(*m)});
      if (events_.size() > kMaxEventsKept) events_.pop_front();
      continue;
    }
    if (m->contains("error")) {
      auto& e = (*m)["error"];
      throw QmpError(fmt::format("qmp: `{}` failed: {}", what, e.value("desc", e.dump())));
    }
    if (m->contains("return")) return (*m)["return"];
  }
}

Qmp::Json Qmp::execute(const std::string& command, const Json& args,
                       std::chrono::milliseconds timeout) {
  return execute_with_fd(command, args, -1, timeout);
}

Qmp::Json Qmp::execute_with_fd(const std::string& command, const Json& args, int fd,
                               std::chrono::milliseconds timeout) {
  std::lock_guard lk(mu_);
  Json req = {{"execute", command}};
  if (!args.empty()) req["arguments"] = args;
  send_line(req.dump() + "\n", fd);
  return await_reply(Clock::now() + timeout, command);
}

std::uint64_t Qmp::mark() const {
  std::lock_guard lk(mu_);
  return next_seq_;
}

Qmp::Json Qmp::wait_event(const std::string& name, std::uint64_t since,
                          std::chrono::milliseconds timeout,
                          const std::function<bool(const Json&)>& match) {
  std::lock_guard lk(mu_);
  auto deadline = Clock::now() + timeout;
  std::size_t scanned_from = 0;
  while (true) {
    for (std::size_t i = scanned_from; i < events_.size(); ++i) {
      auto& e = events_[i];
      if (e.seq >= since && e.body.value("event", "") == name && (!match || match(e.body)))
        return e.body;
    }
    scanned_from = events_.size();
    auto m = read_message(deadline);
    if (!m) throw QmpError(fmt::format("qmp: no {} event within {} ms", name, timeout.count()));
    if (m->contains("event")) {
      events_.push_back({next_seq_++, std::move(*m)});
      if (events_.size() > kMaxEventsKept) {
        events_.pop_front();
        if (scanned_from > 0) --scanned_from;
      }
    }
  }
}

}  // namespace provium::vmm::qemu
