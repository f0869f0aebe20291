#include "vmm/spawner.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace provium::vmm {
namespace {

// Runs in the child between fork and exec: async-signal-safe calls only.
[[noreturn]] void exec_child(const SpawnSpec& spec, char* const* argv, pid_t parent,
                             int report_fd) {
  ::setpgid(0, 0);
  if (spec.die_with_provium) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // provium died before the prctl took effect
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (spec.batch_priority) {
    sched_param sp{};
    ::sched_setscheduler(0, SCHED_BATCH, &sp);
  }
  int devnull = ::open("/dev/null", O_RDWR);
  int in = spec.stdin_fd >= 0 ? spec.stdin_fd : devnull;
  int err = spec.stderr_path.empty()
                ? devnull
                : ::open(spec.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (err < 0) err = devnull;
  if (spec.netns_fd >= 0 && ::setns(spec.netns_fd, CLONE_NEWNET) != 0) {
    int e = errno;
    (void)!::write(report_fd, &e, sizeof e);
    ::_exit(127);
  }
  for (int fd : spec.keep_fds) ::fcntl(fd, F_SETFD, 0);
  ::dup2(in, 0);
  ::dup2(spec.stdout_fd >= 0 ? spec.stdout_fd : devnull, 1);
  ::dup2(spec.stderr_fd >= 0 ? spec.stderr_fd : err, 2);
  ::execvp(argv[0], argv);
  int e = errno;
  (void)!::write(report_fd, &e, sizeof e);
  ::_exit(127);
}

class Spawner {
 public:
  static Spawner& instance() {
    static Spawner* s = new Spawner;  // never destroyed: the thread must outlive every caller
    return *s;
  }

  pid_t spawn(const SpawnSpec& spec) {
    std::packaged_task<pid_t()> task([&spec] { return do_spawn(spec); });
    auto result = task.get_future();
    {
      std::lock_guard lk(mu_);
      queue_.push_back(std::move(task));
    }
    cv_.notify_one();
    return result.get();
  }

 private:
  Spawner() {
    std::thread([this] { loop(); }).detach();
  }

  void loop() {
    while (true) {
      std::packaged_task<pid_t()> task;
      {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return !queue_.empty(); });
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  static pid_t do_spawn(const SpawnSpec& spec) {
    if (spec.argv.empty()) throw std::runtime_error("spawn: empty command");
    std::vector<char*> argv;
    for (auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int report[2];
    if (::pipe2(report, O_CLOEXEC) != 0)
      throw std::runtime_error(fmt::format("spawn: pipe: {}", std::strerror(errno)));
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) {
      int e = errno;
      ::close(report[0]);
      ::close(report[1]);
      throw std::runtime_error(
          fmt::format("cannot start {}: fork: {}", spec.argv[0], std::strerror(e)));
    }
    if (pid == 0) exec_child(spec, argv.data(), parent, report[1]);
    ::close(report[1]);
    int child_errno = 0;
    ssize_t n;
    do {
      n = ::read(report[0], &child_errno, sizeof child_errno);
    } while (n < 0 && errno == EINTR);
    ::close(report[0]);
    if (n == sizeof child_errno) {
      int st;
      ::waitpid(pid, &st, 0);
      throw std::runtime_error(
          fmt::format("cannot run `{}`: {}", spec.argv[0], std::strerror(child_errno)));
    }
    return pid;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::packaged_task<pid_t()>> queue_;
};

// The janitor keeps its list in its positional parameters; it ignores the terminal's signals
// (own process group, traps) so it is still there to clean up after a SIGKILL of provium.
constexpr const char* kJanitorScript = R"(trap '' INT TERM HUP QUIT
while IFS= read -r line; do
  case "$line" in
    +*) set -- "$@" "${line#+}" ;;
    -*) d=${line#-}; n=$#; i=0
        while [ "$i" -lt "$n" ]; do x=$1; shift; [ "$x" = "$d" ] || set -- "$@" "$x"; i=$((i+1)); done ;;
  esac
done
for p in "$@"; do rm -rf -- "$p"; done)";

class Janitor {
 public:
  static Janitor& instance() {
    static Janitor* j = new Janitor;
    return *j;
  }
  void send(char op, const std::string& path) {
    std::lock_guard lk(mu_);
    if (fd_ < 0 || path.find('\n') != std::string::npos) return;
    std::string line = op + path + "\n";
    (void)!::write(fd_, line.data(),
                   line.size());  // best effort: a lost janitor only loses cleanup
  }

 private:
  Janitor() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return;
    SpawnSpec spec;
    spec.argv = {"/bin/sh", "-c", kJanitorScript, "provium-janitor"};
    spec.stdin_fd = p[0];
    spec.die_with_provium = false;
    try {
      spawn_process(spec);
      fd_ = p[1];
    } catch (...) {
      ::close(p[1]);
    }
    ::close(p[0]);
  }
  std::mutex mu_;
  int fd_ = -1;
};

}  // namespace

pid_t spawn_process(const SpawnSpec& spec) { return Spawner::instance().spawn(spec); }

void janitor_watch(const std::string& path) { Janitor::instance().send('+', path); }
void janitor_forget(const std::string& path) { Janitor::instance().send('-', path); }

}  // namespace provium::vmm
