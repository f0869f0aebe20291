#include "vmm/local/sandbox.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "vmm/local/seccomp_filter.hpp"

namespace provium::vmm::local {
namespace {

namespace fs = std::filesystem;

// Fixed descriptor numbers in the helper and the sandbox's init, so that closing everything
// else and moving fds into place later cannot clobber one another.
constexpr int kAgentFd = 100, kStatusFd = 101, kConsoleFd = 102;

// One filesystem action of the sandbox's construction. Everything (paths, options) is built
// in the parent: between fork and exec a child of a threaded process must not allocate.
struct Step {
  enum Kind { Mount, RemountRo, RemountRw, MkDir, Touch, Symlink, Write } kind = Mount;
  std::string target;
  std::string source;  // Mount: source; Symlink: link text
  std::string fstype, data;
  unsigned long flags = 0;
  unsigned mode = 0755;
  bool optional = false;  // skipped when `target` does not exist
  const std::string* content = nullptr;
  std::string what;  // for the error line
};

struct Plan {
  std::string root, oldroot;
  std::vector<Step> outside;  // by the helper, in its private mount namespace (step 1)
  std::vector<Step> init;     // by the sandbox's init in m1 (step 3)
  std::vector<Step> late;     // by the helper in m1 once the network namespace exists (step 4)
  const char* hostname = "";
  std::size_t hostname_len = 0;
  const std::vector<sock_filter>* seccomp = nullptr;
};

// --- async-signal-safe helpers --------------------------------------------------------------

[[noreturn]] void fail(const char* step) {
  char msg[256];
  int err = errno;
  // strerrordesc_np: the untranslated text from a static table (strerror may consult the
  // locale, which a child of a threaded process must not).
  const char* e = ::strerrordesc_np(err);
  if (!e) e = "unknown error";
  std::size_t n = 0;
  for (const char* s : {step, ": ", e})
    for (; *s && n < sizeof msg - 1; ++s) msg[n++] = *s;
  (void)!::write(kStatusFd, msg, n);
  ::_exit(126);
}

bool exists(const std::string& p) { return ::access(p.c_str(), F_OK) == 0; }

unsigned long kept_flags(const std::string& target) {
  struct statfs st;
  if (::statfs(target.c_str(), &st) != 0) return 0;
  // ST_* and MS_* share their values for these bits.
  return static_cast<unsigned long>(st.f_flags) &
         (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME);
}

void run(const Step& s) {
  if (s.optional && !exists(s.target)) return;
  switch (s.kind) {
    case Step::Mount:
      if (::mount(s.source.c_str(), s.target.c_str(), s.fstype.empty() ? nullptr : s.fstype.c_str(),
                  s.flags, s.data.empty() ? nullptr : s.data.c_str()) != 0)
        fail(s.what.c_str());
      return;
    case Step::RemountRo:
    case Step::RemountRw: {
      // A remount must repeat the flags the kernel locked when the mount was inherited.
      unsigned long f = MS_BIND | MS_REMOUNT | kept_flags(s.target);
      if (s.kind == Step::RemountRo) f |= MS_RDONLY;
      if (::mount(nullptr, s.target.c_str(), nullptr, f, nullptr) != 0) fail(s.what.c_str());
      return;
    }
    case Step::MkDir:
      if (::mkdir(s.target.c_str(), s.mode) != 0 && errno != EEXIST) fail(s.what.c_str());
      return;
    case Step::Touch: {
      int fd = ::open(s.target.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, s.mode);
      if (fd < 0) fail(s.what.c_str());
      ::close(fd);
      return;
    }
    case Step::Symlink:
      if (::symlink(s.source.c_str(), s.target.c_str()) != 0 && errno != EEXIST)
        fail(s.what.c_str());
      return;
    case Step::Write: {
      int fd = ::open(s.target.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
      if (fd < 0) fail(s.what.c_str());
      const char* p = s.content->data();
      std::size_t left = s.content->size();
      while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail(s.what.c_str());
        p += n;
        left -= static_cast<std::size_t>(n);
      }
      if (::fchmod(fd, s.mode) != 0) fail(s.what.c_str());
      ::close(fd);
      return;
    }
  }
}

void run_all(const std::vector<Step>& steps) {
  for (auto& s : steps) run(s);
}

// "/proc/<pid>/<leaf>" into `buf` without allocating.
const char* proc_path(char (&buf)[64], pid_t pid, const char* leaf) {
  char digits[16];
  int n = 0;
  for (unsigned v = static_cast<unsigned>(pid); v > 0 || n == 0; v /= 10)
    digits[n++] = static_cast<char>('0' + v % 10);
  std::size_t i = 0;
  for (const char* s = "/proc/"; *s;) buf[i++] = *s++;
  while (n > 0) buf[i++] = digits[--n];
  buf[i++] = '/';
  for (const char* s = leaf; *s && i < sizeof buf - 1;) buf[i++] = *s++;
  buf[i] = '\0';
  return buf;
}

void write_proc(pid_t pid, const char* leaf, const char* text, const char* what) {
  char path[64];
  int fd = ::open(proc_path(path, pid, leaf), O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail(what);
  ssize_t len = static_cast<ssize_t>(std::strlen(text));
  if (::write(fd, text, static_cast<std::size_t>(len)) != len) fail(what);
  ::close(fd);
}

// Root inside is root outside, and so is every other id: files keep their owners and a
// worker's uid is the same number on both sides. Privilege comes from the namespaces the
// user namespace owns, not from the mapping.
void map_ids(pid_t pid, const char* what) {
  write_proc(pid, "uid_map", "0 0 4294967295\n", what);
  write_proc(pid, "gid_map", "0 0 4294967295\n", what);
}

void send_byte(int fd) {
  char c = 1;
  while (::write(fd, &c, 1) < 0 && errno == EINTR) {
  }
}

bool receive_byte(int fd) {
  char c;
  ssize_t n;
  do {
    n = ::read(fd, &c, 1);
  } while (n < 0 && errno == EINTR);
  return n == 1;
}

// --- the sandbox's init (G) -----------------------------------------------------------------

[[noreturn]] void sandbox_init(const Plan& p, int go, int ready) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (!receive_byte(go)) ::_exit(126);  // the helper failed and said why
  run_all(p.init);
  if (::unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC) != 0)
    fail("inner user, network, UTS and IPC namespaces");
  ::sethostname(p.hostname, p.hostname_len);
  send_byte(ready);
  if (!receive_byte(go)) ::_exit(126);
  if (::unshare(CLONE_NEWNS) != 0) fail("inner mount namespace");
  if (::chdir("/") != 0) fail("chdir /");
  int null = ::open("/dev/null", O_RDWR);
  if (null < 0) fail("open /dev/null");
  // The agent's own output, and that of every guest process that does not redirect it, is
  // the VM's console log; provium's stdout stays the reporter's alone.
  if (::dup2(null, 0) < 0 || ::dup2(kConsoleFd, 1) < 0 || ::dup2(kConsoleFd, 2) < 0 ||
      ::dup2(kAgentFd, 3) < 0)
    fail("set up descriptors");
  if (null > 3) ::close(null);
  sock_fprog prog{static_cast<unsigned short>(p.seccomp->size()),
                  const_cast<sock_filter*>(p.seccomp->data())};
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) fail("seccomp filter");
  const char* argv[] = {"/run/provium-agent", "--fd", "3", nullptr};
  ::execv(argv[0], const_cast<char**>(argv));
  fail("exec provium-agent");
}

// --- the helper outside (C) -----------------------------------------------------------------

[[noreturn]] void helper_main(const Plan& p, int agent_fd, int status_fd, int console_fd) {
  // Own process group, so one kill reaches every process of the sandbox.
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() == 1) ::_exit(1);  // provium already died
  // This process never execs, so close-on-exec never runs here: keep only what it needs at
  // fixed numbers and close everything else (a sandbox forked while another boots must not
  // hold that other boot's status pipe open).
  if (::dup3(agent_fd, kAgentFd, O_CLOEXEC) < 0 || ::dup3(status_fd, kStatusFd, O_CLOEXEC) < 0 ||
      ::dup3(console_fd, kConsoleFd, O_CLOEXEC) < 0)
    ::_exit(126);
  ::close_range(0, kAgentFd - 1, 0);
  ::close_range(kConsoleFd + 1, ~0U, 0);

  if (::unshare(CLONE_NEWNS) != 0) fail("private mount namespace");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) fail("make / private");
  run_all(p.outside);

  int go[2], ready[2];
  if (::pipe2(go, O_CLOEXEC) != 0 || ::pipe2(ready, O_CLOEXEC) != 0) fail("pipe");
  long g = ::syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | SIGCHLD, nullptr,
                     nullptr, nullptr, nullptr);
  if (g < 0)
    fail(
        "user namespace (user namespaces must be enabled: sysctl user.max_user_namespaces "
        "above 0)");
  if (g == 0) {
    ::close(go[1]);
    ::close(ready[0]);
    sandbox_init(p, go[0], ready[1]);
  }
  pid_t init = static_cast<pid_t>(g);
  ::close(go[0]);
  ::close(ready[1]);
  map_ids(init, "map ids of the outer user namespace");
  // Only a process in its parent may map the inner namespace's ids, so the helper joins the
  // outer one (as its owner it holds every capability there) once the maps are written.
  char user_path[64];
  int outer_user = ::open(proc_path(user_path, init, "ns/user"), O_RDONLY | O_CLOEXEC);
  if (outer_user < 0) fail("open the sandbox's user namespace");
  send_byte(go[1]);
  if (receive_byte(ready[0])) {
    if (::setns(outer_user, CLONE_NEWUSER) != 0) fail("join the outer user namespace");
    ::close(outer_user);
    map_ids(init, "map ids of the inner user namespace");
    char mnt_path[64], net_path[64];
    int mnt = ::open(proc_path(mnt_path, init, "ns/mnt"), O_RDONLY | O_CLOEXEC);
    int net = ::open(proc_path(net_path, init, "ns/net"), O_RDONLY | O_CLOEXEC);
    if (mnt < 0 || net < 0) fail("open the sandbox's namespaces");
    if (::setns(mnt, CLONE_NEWNS) != 0) fail("join the sandbox's mount namespace");
    if (::setns(net, CLONE_NEWNET) != 0) fail("join the sandbox's network namespace");
    ::close(mnt);
    ::close(net);
    run_all(p.late);
    // The overlay becomes the namespace's root and the host's tree is detached from it, so
    // no chroot escape can reach the host's files.
    if (::chdir(p.root.c_str()) != 0) fail("chdir to the sandbox root");
    if (::syscall(SYS_pivot_root, ".", "run/.oldroot") != 0) fail("pivot_root");
    if (::chdir("/") != 0) fail("chdir /");
    if (::umount2("/run/.oldroot", MNT_DETACH) != 0) fail("detach the host's root");
    ::rmdir("/run/.oldroot");
    send_byte(go[1]);
  }
  ::close(go[1]);
  ::close(ready[0]);
  ::close(kStatusFd);
  ::close(kAgentFd);
  ::close(kConsoleFd);
  int st = 0;
  while (::waitpid(init, &st, 0) < 0 && errno == EINTR) {
  }
  ::_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 1);
}

// --- the plan ---------------------------------------------------------------------------------

Step mount_step(std::string src, std::string target, std::string type, unsigned long flags,
                std::string data, std::string what, bool optional = false) {
  Step s;
  s.kind = Step::Mount;
  s.target = std::move(target);
  s.source = std::move(src);
  s.fstype = std::move(type);
  s.data = std::move(data);
  s.flags = flags;
  s.what = std::move(what);
  s.optional = optional;
  return s;
}

Step simple(Step::Kind k, std::string target, std::string what, unsigned mode = 0755,
            bool optional = false) {
  Step s;
  s.kind = k;
  s.target = std::move(target);
  s.mode = mode;
  s.what = std::move(what);
  s.optional = optional;
  return s;
}

constexpr unsigned long kNoSuidDevExec = MS_NOSUID | MS_NODEV | MS_NOEXEC;

void plan_outside(const SandboxSpec& spec, Plan& p) {
  const std::string& r = p.root;
  auto& v = p.outside;
  v.push_back(
      mount_step("overlay", r, "overlay", 0,
                 "lowerdir=/,upperdir=" + spec.scratch + "/upper,workdir=" + spec.scratch + "/work",
                 "overlayfs over /"));
  // A minimal /dev: no block, memory or kernel-log devices exist, and mknod is refused.
  v.push_back(
      mount_step("tmpfs", r + "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755", "tmpfs /dev"));
  for (const char* d : {"null", "zero", "full", "random", "urandom", "tty"}) {
    std::string t = r + "/dev/" + d;
    v.push_back(simple(Step::Touch, t, "create /dev/" + std::string(d), 0666));
    v.push_back(
        mount_step(std::string("/dev/") + d, t, "", MS_BIND, "", "bind /dev/" + std::string(d)));
  }
  v.push_back(simple(Step::MkDir, r + "/dev/pts", "mkdir /dev/pts"));
  v.push_back(mount_step("devpts", r + "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                         "newinstance,ptmxmode=0666,mode=0620", "devpts /dev/pts"));
  v.push_back(simple(Step::MkDir, r + "/dev/shm", "mkdir /dev/shm", 01777));
  v.push_back(mount_step("tmpfs", r + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777",
                         "tmpfs /dev/shm"));
  for (auto [link, to] : {std::pair{"ptmx", "pts/ptmx"},
                          {"fd", "/proc/self/fd"},
                          {"stdin", "/proc/self/fd/0"},
                          {"stdout", "/proc/self/fd/1"},
                          {"stderr", "/proc/self/fd/2"}}) {
    Step s = simple(Step::Symlink, r + "/dev/" + link, "symlink /dev/" + std::string(link));
    s.source = to;
    v.push_back(std::move(s));
  }
  v.push_back(
      mount_step("tmpfs", r + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", "tmpfs /tmp"));
  v.push_back(
      mount_step("tmpfs", r + "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755", "tmpfs /run"));
  // The agent binary may live where the private mounts hide it (a checkout under /tmp), so
  // it is bound to a fixed place, read-only: the guest's root must not rewrite provium.
  std::string agent = r + "/run/provium-agent";
  v.push_back(simple(Step::Touch, agent, "create /run/provium-agent", 0755));
  v.push_back(mount_step(spec.agent, agent, "", MS_BIND, "", "bind provium-agent"));
  v.push_back(simple(Step::RemountRo, agent, "make provium-agent read-only"));
  v.push_back(simple(Step::MkDir, p.oldroot, "mkdir /run/.oldroot", 0700));
  for (auto& f : spec.files) {
    fs::path rel = fs::path(f.path).relative_path();
    std::string dir = r;
    for (auto it = rel.begin(); std::next(it) != rel.end(); ++it) {
      dir += "/" + it->string();
      v.push_back(
          simple(Step::MkDir, dir, "boot file " + f.path + ": mkdir " + dir.substr(r.size())));
    }
    Step w = simple(Step::Write, r + "/" + rel.string(), "boot file " + f.path, f.mode);
    w.content = &f.content;
    v.push_back(std::move(w));
  }
}

void plan_init(Plan& p) {
  const std::string& r = p.root;
  auto& v = p.init;
  // An unlocked root over the locked overlay, which pivot_root needs.
  v.push_back(mount_step(r, r, "", MS_BIND | MS_REC, "", "bind the sandbox root"));
  v.push_back(mount_step("proc", r + "/proc", "proc", kNoSuidDevExec, "", "mount /proc"));
  // Kernel-wide knobs under /proc are writable by the host's uid 0 without any capability
  // check, and the sandbox's root is that uid: they become read-only (EROFS) or masked.
  for (const char* d : {"sys", "bus", "fs", "irq", "sysrq-trigger"}) {
    std::string t = r + "/proc/" + d;
    v.push_back(mount_step(t, t, "", MS_BIND | MS_REC, "", "bind /proc/" + std::string(d), true));
    v.push_back(simple(Step::RemountRo, t, "read-only /proc/" + std::string(d), 0, true));
  }
  // The network sysctls shown are those of the reader's network namespace: the sandbox's own.
  std::string net = r + "/proc/sys/net";
  v.push_back(mount_step(net, net, "", MS_BIND | MS_REC, "", "bind /proc/sys/net", true));
  v.push_back(simple(Step::RemountRw, net, "writable /proc/sys/net", 0, true));
  for (const char* f : {"kcore", "keys", "latency_stats", "timer_list", "sched_debug"}) {
    std::string t = r + "/proc/" + f;
    v.push_back(
        mount_step(r + "/dev/null", t, "", MS_BIND, "", "mask /proc/" + std::string(f), true));
    v.push_back(simple(Step::RemountRo, t, "mask /proc/" + std::string(f), 0, true));
  }
  for (const char* d : {"acpi", "scsi", "asound"})
    v.push_back(mount_step("tmpfs", r + "/proc/" + d, "tmpfs", kNoSuidDevExec | MS_RDONLY,
                           "size=4k,mode=0555", "mask /proc/" + std::string(d), true));
}

void plan_late(Plan& p) {
  // Nothing is mounted over it: a fully visible read-only sysfs is what lets the guest mount
  // one of its own for a network namespace it creates (`ip netns exec`).
  p.late.push_back(mount_step("sysfs", p.root + "/sys", "sysfs", kNoSuidDevExec | MS_RDONLY, "",
                              "mount a read-only /sys"));
}

}  // namespace

pid_t start_sandbox(const SandboxSpec& spec, int agent_fd) {
  Plan p;
  p.root = spec.scratch + "/root";
  p.oldroot = p.root + "/run/.oldroot";
  p.hostname = spec.hostname.data();
  p.hostname_len = std::min<std::size_t>(spec.hostname.size(), 63);
  p.seccomp = &sandbox_seccomp_program();
  plan_outside(spec, p);
  plan_init(p);
  plan_late(p);

  std::string console_path = spec.scratch + "/console.log";
  int console = ::open(console_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (console < 0)
    throw std::runtime_error(
        fmt::format("local: cannot create `{}`: {}", console_path, std::strerror(errno)));
  int status[2];
  if (::pipe2(status, O_CLOEXEC) != 0) {
    ::close(console);
    throw std::runtime_error(fmt::format("local: pipe: {}", std::strerror(errno)));
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(console);
    ::close(status[0]);
    ::close(status[1]);
    throw std::runtime_error(fmt::format("local: fork: {}", std::strerror(errno)));
  }
  if (pid == 0) helper_main(p, agent_fd, status[1], console);
  ::close(console);
  ::close(status[1]);
  // The status pipe closes when the agent execs (close-on-exec) or carries the failing step.
  char msg[256] = {};
  ssize_t n = -1;
  pollfd pf{status[0], POLLIN, 0};
  int ready;
  do {
    ready = ::poll(&pf, 1, static_cast<int>(spec.timeout_s * 1000));
  } while (ready < 0 && errno == EINTR);
  if (ready > 0) {
    do {
      n = ::read(status[0], msg, sizeof msg - 1);
    } while (n < 0 && errno == EINTR);
  }
  ::close(status[0]);
  if (ready > 0 && n == 0) return pid;
  stop_sandbox(pid);
  if (ready == 0)
    throw std::runtime_error(
        fmt::format("local: the sandbox did not start within {}s", spec.timeout_s));
  throw std::runtime_error(fmt::format(
      "local: cannot build the sandbox ({}); refusing to run guest operations on the host",
      n > 0 ? std::string(msg, static_cast<std::size_t>(n)) : std::string("its setup died")));
}

void stop_sandbox(pid_t helper) {
  if (helper <= 0) return;
  // The helper leads the sandbox's process group; its init is PID 1 of the sandbox's pid
  // namespace, whose end kills every process in it.
  ::kill(-helper, SIGKILL);
  ::kill(helper, SIGKILL);
  while (::waitpid(helper, nullptr, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace provium::vmm::local
