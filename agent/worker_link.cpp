#include "agent/worker_link.hpp"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

namespace provium::agent {

using proto::Value;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kHandshakeTimeout = std::chrono::seconds(10);

// In the forked child: every inherited descriptor but the worker's socket closes on exec (the
// main agent's own transport among them, so the host still sees EOF when the agent goes).
[[noreturn]] void exec_worker(int sock, char** argv) {
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, 3u, ~0u, 4u /* CLOSE_RANGE_CLOEXEC */) != 0)
#endif
    for (int fd = 3; fd < 4096; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  ::fcntl(sock, F_SETFD, 0);
  ::execv("/proc/self/exe", argv);
  // No /proc (an init that has not mounted it yet): the path the agent was started by.
  if (program_invocation_name[0] == '/') ::execv(program_invocation_name, argv);
  ::_exit(127);
}

// Reads until the worker's marker and hello_ok arrived; returns the splitter holding whatever
// followed, or nullopt on EOF, timeout or refusal.
std::optional<proto::FrameSplitter> read_hello(int fd) {
  auto deadline = Clock::now() + kHandshakeTimeout;
  std::string buf;
  bool synced = false;
  proto::FrameSplitter splitter(proto::kMaxFrameBytes);
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    int rc = ::poll(&p, 1, 100);
    if (rc < 0 && errno != EINTR) return std::nullopt;
    if (rc <= 0) continue;
    char chunk[4096];
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    if (!synced) {
      buf.append(chunk, static_cast<size_t>(n));
      auto at = buf.find(proto::kSyncMarker);
      if (at == std::string::npos) continue;
      synced = true;
      splitter.feed(std::string_view(buf).substr(at + proto::kSyncMarker.size()));
    } else {
      splitter.feed(std::string_view(chunk, static_cast<size_t>(n)));
    }
    try {
      if (auto body = splitter.next()) {
        auto env = proto::decode_envelope(*body);
        if (env.kind != "hello_ok") return std::nullopt;
        return splitter;
      }
    } catch (const proto::DecodeError&) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<int> wait_status(Process& p, std::chrono::milliseconds limit) {
  std::unique_lock lk(p.mu);
  p.cv.wait_for(lk, limit, [&] { return p.wait_status.has_value(); });
  return p.wait_status;
}

}  // namespace

std::string describe_wait_status(int st) {
  if (WIFEXITED(st)) return "exited with status " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) {
    const char* n = ::sigabbrev_np(WTERMSIG(st));
    return "killed by signal " + std::to_string(WTERMSIG(st)) + " (" + (n ? n : "?") + ")";
  }
  return "ended";
}

std::shared_ptr<WorkerLink> WorkerLink::start(const WorkerCreds& creds) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    throw OsError{errno, "socketpair"};
  // Everything the child needs is built before fork: it only calls fcntl and execv.
  std::vector<std::string> args = {"provium-agent", "--worker-fd", std::to_string(sv[1])};
  if (!creds.empty()) {
    args.push_back("--worker-creds");
    args.push_back(encode_worker_creds(creds));
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  auto proc = std::make_shared<Process>();
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(sv[0]);
    ::close(sv[1]);
    throw OsError{err, "fork"};
  }
  if (pid == 0) exec_worker(sv[1], argv.data());
  ::close(sv[1]);
  proc->pid = pid;
  State::get().watch_pid(pid, proc);
  kick_reaper();

  std::string hello(proto::kSyncMarker);
  proto::Map hm;
  hm["protocol_version"] = Value{proto::kProtocolVersion};
  hello += proto::encode_envelope({0, "hello", Value{std::move(hm)}});
  std::optional<proto::FrameSplitter> rest;
  if (write_all(sv[0], hello.data(), hello.size())) rest = read_hello(sv[0]);
  if (!rest) {
    ::close(sv[0]);
    auto st = wait_status(*proc, std::chrono::milliseconds(500));
    if (!st) {
      ::kill(pid, SIGKILL);  // still running (not yet reaped): the pid is still ours
      st = wait_status(*proc, std::chrono::seconds(2));
    }
    if (st && WIFEXITED(*st) && WEXITSTATUS(*st) == 127) throw OsError{ENOEXEC, "worker exec"};
    if (st && WIFEXITED(*st) && WEXITSTATUS(*st) > kCredsExitBase)
      throw OsError{WEXITSTATUS(*st) - kCredsExitBase, "worker credentials"};
    throw OsError{EIO, "worker handshake"};
  }
  std::shared_ptr<WorkerLink> link(new WorkerLink(sv[0], pid, proc));
  std::thread([self = link, s = std::move(*rest)]() mutable {
    self->reader(std::move(s));
  }).detach();
  return link;
}

WorkerLink::~WorkerLink() { ::close(fd_); }

void WorkerLink::reader(proto::FrameSplitter splitter) {
  char buf[1 << 16];
  while (true) {
    try {
      while (auto body = splitter.next()) {
        proto::Envelope env = proto::decode_envelope(*body);
        std::lock_guard lk(mu_);
        auto it = slots_.find(env.id);
        if (it == slots_.end()) continue;  // a request that was given up
        it->second.frames.push_back(std::move(env));
        cv_.notify_all();
      }
    } catch (const proto::DecodeError& e) {
      mark_dead(std::string("the worker sent a malformed frame: ") + e.what());
      return;
    }
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    splitter.feed(std::string_view(buf, static_cast<size_t>(n)));
  }
  // EOF: the worker ended (or we shut it down). Its status names the cause.
  auto st = wait_status(*proc_, std::chrono::seconds(2));
  mark_dead(st ? describe_wait_status(*st) : "closed its connection");
}

void WorkerLink::mark_dead(const std::string& why) {
  std::lock_guard lk(mu_);
  if (!dead_) {
    dead_ = true;
    cause_ = why;
  }
  cv_.notify_all();
}

bool WorkerLink::alive() const {
  std::lock_guard lk(mu_);
  return !dead_;
}

std::string WorkerLink::cause() const {
  std::lock_guard lk(mu_);
  return cause_;
}

void WorkerLink::shutdown(const std::string& why) {
  mark_dead(why);
  ::shutdown(fd_, SHUT_RDWR);
}

bool WorkerLink::write_frame(const std::string& frame) {
  {
    std::lock_guard lk(write_mu_);
    if (write_all(fd_, frame.data(), frame.size())) return true;
  }
  // A failed write means the worker is gone; its exit status (reaped a moment later) says why,
  // and is what the reader would report too, so both paths name the same cause.
  auto st = wait_status(*proc_, std::chrono::seconds(2));
  mark_dead(st ? describe_wait_status(*st) : "the connection to the worker failed");
  return false;
}

std::optional<std::int64_t> WorkerLink::open(const std::string& kind, Value payload) {
  std::int64_t id;
  {
    std::lock_guard lk(mu_);
    if (dead_) return std::nullopt;
    id = next_id_++;
    slots_[id];  // registered before sending: the reply may come at once
  }
  if (!write_frame(proto::encode_envelope({id, kind, std::move(payload)}))) {
    close(id);
    return std::nullopt;
  }
  return id;
}

std::optional<proto::Envelope> WorkerLink::next(std::int64_t id,
                                                std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  auto it = slots_.find(id);
  if (it == slots_.end()) return std::nullopt;
  cv_.wait_for(lk, timeout, [&] { return !it->second.frames.empty() || dead_; });
  if (it->second.frames.empty()) return std::nullopt;
  proto::Envelope e = std::move(it->second.frames.front());
  it->second.frames.pop_front();
  return e;
}

void WorkerLink::close(std::int64_t id) {
  std::lock_guard lk(mu_);
  slots_.erase(id);
}

void WorkerLink::control(const std::string& kind, std::int64_t target, std::int64_t bytes) {
  std::int64_t id;
  {
    std::lock_guard lk(mu_);
    if (dead_) return;
    id = next_id_++;
  }
  proto::Map m;
  m["target"] = Value{target};
  if (bytes >= 0) m["bytes"] = Value{bytes};
  write_frame(proto::encode_envelope({id, kind, Value{std::move(m)}}));
}

}  // namespace provium::agent
