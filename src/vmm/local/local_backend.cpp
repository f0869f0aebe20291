#include "vmm/local/local_backend.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "util/host.hpp"

namespace provium::vmm::local {
namespace {

namespace fs = std::filesystem;

std::atomic<std::uint32_t> next_cid{100};

std::string agent_path() {
  std::string sibling = util::self_dir() + "/provium-agent";
  if (::access(sibling.c_str(), X_OK) == 0) return sibling;
  return util::find_on_path("provium-agent");
}

// Reports a setup failure from the sandbox child through the status pipe, then exits.
[[noreturn]] void child_fail(int status_fd, const char* step) {
  char msg[256];
  int err = errno;
  int n = std::snprintf(msg, sizeof msg, "%s: %s", step, std::strerror(err));
  if (n > 0) (void)!::write(status_fd, msg, static_cast<size_t>(std::min(n, 255)));
  ::_exit(126);
}

// Runs in the grandchild: PID 1 of the new pid namespace. Builds the copy-on-write root and
// execs the agent on fd 3. Only async-signal-safe calls plus mount/chroot are used.
// Every path the sandbox's PID 1 needs, built in the parent: between fork and exec a child of
// a threaded process must not allocate (another thread may have held the allocator's lock at
// the fork, and the child would wait for it forever).
struct SandboxPaths {
  std::string upper, work, root, opts, dev, proc, sys, tmp, run, agent_inside, agent, hostname;
  SandboxPaths(const std::string& scratch, std::string agent_path, std::string host)
      : upper(scratch + "/upper"),
        work(scratch + "/work"),
        root(scratch + "/root"),
        opts("lowerdir=/,upperdir=" + upper + ",workdir=" + work),
        dev(root + "/dev"),
        proc(root + "/proc"),
        sys(root + "/sys"),
        tmp(root + "/tmp"),
        run(root + "/run"),
        agent_inside(run + "/provium-agent"),
        agent(std::move(agent_path)),
        hostname(std::move(host)) {}
};

[[noreturn]] void sandbox_init(int sock, int status_fd, const SandboxPaths& p) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    child_fail(status_fd, "make / private");
  const std::string &root = p.root, &dev = p.dev, &proc = p.proc, &sys = p.sys, &tmp = p.tmp,
                    &run = p.run, &agent_inside = p.agent_inside, &agent = p.agent,
                    &hostname = p.hostname;
  if (::mount("overlay", root.c_str(), "overlay", 0, p.opts.c_str()) != 0)
    child_fail(status_fd, "overlayfs over /");
  // The guest gets its own /proc (its pid namespace), /dev from the host, and private /tmp, /run.
  if (::mount("/dev", dev.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
    child_fail(status_fd, "bind /dev");
  if (::mount("proc", proc.c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
    child_fail(status_fd, "mount /proc");
  ::mount("sysfs", sys.c_str(), "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);  // best effort
  if (::mount("tmpfs", tmp.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0)
    child_fail(status_fd, "mount /tmp");
  if (::mount("tmpfs", run.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0)
    child_fail(status_fd, "mount /run");
  // The agent binary may live under a path the private mounts hide (a checkout in /tmp), so it
  // is bound to a fixed place inside the sandbox.
  int placeholder = ::open(agent_inside.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0755);
  if (placeholder < 0) child_fail(status_fd, "create /run/provium-agent");
  ::close(placeholder);
  if (::mount(agent.c_str(), agent_inside.c_str(), nullptr, MS_BIND, nullptr) != 0)
    child_fail(status_fd, "bind provium-agent");
  if (::chdir(root.c_str()) != 0 || ::chroot(".") != 0 || ::chdir("/") != 0)
    child_fail(status_fd, "chroot");
  ::sethostname(hostname.data(), hostname.size());
  if (sock != 3) {
    ::dup2(sock, 3);
    ::close(sock);
  }
  int flags = ::fcntl(3, F_GETFD);
  ::fcntl(3, F_SETFD, flags & ~FD_CLOEXEC);
  const char* argv[] = {"/run/provium-agent", "--fd", "3", nullptr};
  ::execv(argv[0], const_cast<char**>(argv));
  child_fail(status_fd, "exec provium-agent");
}

class LocalMachine : public Machine {
 public:
  LocalMachine(pid_t pid, std::uint32_t cid, std::string scratch,
               std::shared_ptr<client::AgentClient> agent)
      : pid_(pid), cid_(cid), scratch_(std::move(scratch)), agent_(std::move(agent)) {}
  int netns_pid() const override { return pid_; }  // the sandbox unshared its own netns
  ~LocalMachine() override { shutdown(); }

  std::uint32_t cid() const override { return cid_; }
  std::shared_ptr<client::AgentClient> agent() override { return agent_; }
  const char* backend_name() const override { return "local"; }

  void shutdown() override {
    if (pid_ <= 0) return;
    if (agent_) agent_->shutdown();
    // The intermediate process owns the namespace's PID 1; killing the whole group of the
    // sandbox ends every guest process (PID 1 exiting kills its namespace).
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int st;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    agent_.reset();
    std::error_code ec;
    fs::remove_all(scratch_, ec);
  }

  void pause() override { signal_all(SIGSTOP); }
  void resume() override { signal_all(SIGCONT); }

 private:
  // Every process of the sandbox is in the process group of the intermediate child.
  void signal_all(int sig) {
    if (pid_ > 0 && ::kill(-pid_, sig) != 0)
      throw std::runtime_error(
          fmt::format("local: cannot signal the sandbox: {}", std::strerror(errno)));
  }

  pid_t pid_;
  std::uint32_t cid_;
  std::string scratch_;
  std::shared_ptr<client::AgentClient> agent_;
};

// Scratch directories are named provium-local-<pid>-<cid>; those of dead provium processes
// (killed with SIGKILL, so no destructor ran) are removed the first time a VM boots.
void sweep_stale_scratch(const std::string& dir) {
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (!name.starts_with("provium-local-")) continue;
    long pid = std::strtol(name.c_str() + 14, nullptr, 10);
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    fs::remove_all(e.path(), ec);
  }
}

class LocalBackend : public Backend {
 public:
  const char* name() const override { return "local"; }
  double default_agent_timeout() const override { return 10.0; }

  std::unique_ptr<Machine> boot(const BootRequest& req) override {
    std::string agent = agent_path();
    if (agent.empty())
      throw std::runtime_error(
          "local: provium-agent not found beside provium or on PATH; build it (target "
          "provium-agent)");
    const char* tmpdir = std::getenv("TMPDIR");
    static std::once_flag swept;
    std::call_once(swept, [&] { sweep_stale_scratch((tmpdir && *tmpdir) ? tmpdir : "/tmp"); });
    std::uint32_t cid = next_cid++;
    std::string scratch = fmt::format("{}/provium-local-{}-{}",
                                      (tmpdir && *tmpdir) ? tmpdir : "/tmp", ::getpid(), cid);
    std::error_code ec;
    for (auto d : {"upper", "work", "root"}) fs::create_directories(fs::path(scratch) / d, ec);
    if (ec)
      throw std::runtime_error(
          fmt::format("local: cannot create scratch dir `{}`: {}", scratch, ec.message()));

    int sv[2], status[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 ||
        ::pipe2(status, O_CLOEXEC) != 0)
      throw std::runtime_error(fmt::format("local: socketpair: {}", std::strerror(errno)));
    const SandboxPaths paths(scratch, agent, req.vm_name.substr(0, 63));
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(fmt::format("local: fork: {}", std::strerror(errno)));
    if (pid == 0) {
      // Intermediate: own process group (so one kill reaches the sandbox), new namespaces,
      // then the grandchild becomes PID 1 of the new pid namespace.
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() == 1) ::_exit(1);  // provium already died
      ::close(sv[0]);
      ::close(status[0]);
      // This process never execs, so close-on-exec never runs here: close every descriptor
      // it does not need. Otherwise a sandbox forked while another boots keeps that other
      // boot's status pipe open, and the other boot waits for its EOF forever.
      {
        unsigned lo = static_cast<unsigned>(std::min(sv[1], status[1]));
        unsigned hi = static_cast<unsigned>(std::max(sv[1], status[1]));
        if (lo > 3) ::close_range(3, lo - 1, 0);
        if (hi > lo + 1) ::close_range(lo + 1, hi - 1, 0);
        ::close_range(hi + 1, ~0U, 0);
      }
      if (::unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET) != 0)
        child_fail(status[1], "unshare namespaces");
      pid_t init = ::fork();
      if (init < 0) child_fail(status[1], "fork");
      if (init == 0) sandbox_init(sv[1], status[1], paths);
      ::close(sv[1]);
      ::close(status[1]);
      int st = 0;
      while (::waitpid(init, &st, 0) < 0 && errno == EINTR) {
      }
      ::_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 1);
    }
    ::close(sv[1]);
    ::close(status[1]);
    // The status pipe closes on a successful exec (CLOEXEC) or carries the failing step.
    char msg[256] = {};
    ssize_t n = -1;
    double timeout = req.agent_timeout.value_or(default_agent_timeout());
    // Bounded: a sandbox that never reaches its exec must fail the boot, not hang the file.
    pollfd pf{status[0], POLLIN, 0};
    int ready;
    do {
      ready = ::poll(&pf, 1, static_cast<int>(timeout * 1000));
    } while (ready < 0 && errno == EINTR);
    if (ready > 0) {
      do {
        n = ::read(status[0], msg, sizeof msg - 1);
      } while (n < 0 && errno == EINTR);
    }
    ::close(status[0]);
    auto fail = [&](const std::string& why) -> std::unique_ptr<Machine> {
      ::close(sv[0]);
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      fs::remove_all(scratch, ec);
      throw std::runtime_error(why);
    };
    if (ready == 0)
      return fail(fmt::format("local: the sandbox did not start within {}s", timeout));
    if (n > 0)
      return fail(fmt::format(
          "local: cannot build the sandbox ({}); refusing to run guest operations on the host",
          std::string(msg, static_cast<size_t>(n))));
    auto client = std::make_shared<client::AgentClient>(sv[0]);
    try {
      client->handshake(std::chrono::milliseconds(static_cast<long long>(timeout * 1000)));
    } catch (const std::exception& e) {
      client.reset();
      return fail(fmt::format("local: {}", e.what()));
    }
    return std::make_unique<LocalMachine>(pid, cid, scratch, std::move(client));
  }
};

}  // namespace

Backend& backend() {
  static LocalBackend b;
  return b;
}

}  // namespace provium::vmm::local
