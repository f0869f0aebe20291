#include "harness.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace provium::e2e {
namespace {

// A host without pressure: ctest runs suites side by side, and the load they make would pause
// dispatch (PSI) in the suites that test parallel files. PSI itself is tested by pointing
// PROVIUM_PSI_ROOT elsewhere.
fs::path calm_psi_dir(const fs::path& home) {
  fs::path dir = home / ".calm-psi";
  if (!fs::exists(dir / "memory")) {
    fs::create_directories(dir);
    for (const char* f : {"cpu", "memory"})
      std::ofstream(dir / f) << "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
  }
  return dir;
}

std::vector<std::string> build_env(const fs::path& home,
                                   const std::map<std::string, std::optional<std::string>>& extra) {
  std::map<std::string, std::optional<std::string>> vars = {
      {"PROVIUM_PSI_ROOT", calm_psi_dir(home).string()},
      {"HOME", home.string()},
      {"PROVIUM_RERUN_STATE", (home / "rerun.json").string()},
      {"XDG_CACHE_HOME", (home / ".cache").string()},
      {"NO_COLOR", std::nullopt}};
  for (auto& [k, v] : extra) vars[k] = v;
  return environment_with(vars);
}

// Starts `program` in `cwd` with exactly `env`; stdout/stderr (and stdin when `in_fd` is not
// null) are pipes returned to the caller.
pid_t spawn(const std::vector<std::string>& program, const std::vector<std::string>& env,
            const fs::path& cwd, int& out_fd, int& err_fd, int* in_fd = nullptr) {
  int out_pipe[2], err_pipe[2], in_pipe[2] = {-1, -1};
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0 ||
      (in_fd && pipe2(in_pipe, O_CLOEXEC) != 0))
    throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  if (in_fd)
    posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
  else
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  // The child runs through a tiny shell so it can change directory first.
  std::vector<std::string> argv_s = {"/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", cwd.string()};
  argv_s.insert(argv_s.end(), program.begin(), program.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_copy = env;
  std::vector<char*> envp;
  for (auto& e : env_copy) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Signals blocked in the test runner must not stay blocked in provium.
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid;
  int rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (in_fd) {
    close(in_pipe[0]);
    *in_fd = in_pipe[1];
  }
  if (rc != 0) throw std::runtime_error(std::string("posix_spawn: ") + std::strerror(rc));
  out_fd = out_pipe[0];
  err_fd = err_pipe[0];
  return pid;
}

bool drain(int fd, std::string& into) {
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      into.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n == 0;  // EOF
  }
}

void fill_status(RunOutput& r, int status) {
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
}

}  // namespace

std::string provium_bin() {
  if (const char* p = std::getenv("PROVIUM_BIN")) return p;
  return PROVIUM_BIN;
}

Project::Project() {
  char tmpl[] = "/tmp/provium-e2e-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
}

Project::~Project() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

fs::path Project::write(const std::string& rel, const std::string& content) const {
  fs::path p = dir_ / rel;
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
  return p;
}

std::string Project::read(const std::string& rel) const {
  std::ifstream in(dir_ / rel, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> environment_with(
    const std::map<std::string, std::optional<std::string>>& extra) {
  std::map<std::string, std::optional<std::string>> vars;
  for (char** e = environ; *e; ++e) {
    std::string s(*e);
    auto eq = s.find('=');
    if (eq != std::string::npos) vars[s.substr(0, eq)] = s.substr(eq + 1);
  }
  for (auto& [k, v] : extra) vars[k] = v;
  std::vector<std::string> out;
  for (auto& [k, v] : vars)
    if (v) out.push_back(k + "=" + *v);
  return out;
}

RunOutput run_program(const std::vector<std::string>& program, const fs::path& cwd,
                      const std::vector<std::string>& env, const std::string& stdin_data,
                      std::chrono::milliseconds limit) {
  RunOutput r;
  int out_fd, err_fd, in_fd = -1;
  pid_t pid = spawn(program, env, cwd, out_fd, err_fd, &in_fd);
  for (int fd : {out_fd, err_fd, in_fd}) fcntl(fd, F_SETFL, O_NONBLOCK);
  signal(SIGPIPE, SIG_IGN);
  size_t written = 0;
  if (stdin_data.empty()) {
    close(in_fd);
    in_fd = -1;
  }
  auto deadline = std::chrono::steady_clock::now() + limit;
  bool out_open = true, err_open = true;
  while (out_open || err_open) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd fds[3] = {{out_open ? out_fd : -1, POLLIN, 0},
                     {err_open ? err_fd : -1, POLLIN, 0},
                     {in_fd, POLLOUT, 0}};
    poll(fds, 3, static_cast<int>(std::min<long long>(left.count(), 200)));
    if (in_fd >= 0) {
      ssize_t n = ::write(in_fd, stdin_data.data() + written, stdin_data.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == stdin_data.size()) {
        close(in_fd);
        in_fd = -1;
      }
    }
    if (out_open && drain(out_fd, r.out)) out_open = false;
    if (err_open && drain(err_fd, r.err)) err_open = false;
  }
  for (int fd : {out_fd, err_fd, in_fd})
    if (fd >= 0) close(fd);
  int status = 0;
  waitpid(pid, &status, 0);
  fill_status(r, status);
  if (r.timed_out) r.exit_code = -1;
  return r;
}

RunOutput Project::run(const std::vector<std::string>& args,
                       const std::map<std::string, std::optional<std::string>>& env,
                       std::chrono::milliseconds limit, const std::optional<fs::path>& cwd) const {
  std::vector<std::string> program = {provium_bin()};
  program.insert(program.end(), args.begin(), args.end());
  return run_program(program, cwd.value_or(dir_), build_env(dir_, env), "", limit);
}

Background::Background(const Project& p, const std::vector<std::string>& args,
                       const std::map<std::string, std::optional<std::string>>& env) {
  std::vector<std::string> program = {provium_bin()};
  program.insert(program.end(), args.begin(), args.end());
  pid_ = spawn(program, build_env(p.dir(), env), p.dir(), out_fd_, err_fd_);
  fcntl(out_fd_, F_SETFL, O_NONBLOCK);
  fcntl(err_fd_, F_SETFL, O_NONBLOCK);
}

Background::~Background() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (out_fd_ >= 0) close(out_fd_);
  if (err_fd_ >= 0) close(err_fd_);
}

void Background::signal(int sig) const {
  // provium runs as the exec'd child of `sh -c ... exec`, so the pid is provium's own.
  kill(pid_, sig);
}

void Background::pump() {
  if (out_fd_ >= 0) drain(out_fd_, out_);
  if (err_fd_ >= 0) drain(err_fd_, err_);
}

std::string Background::out() {
  pump();
  return out_;
}
std::string Background::err() {
  pump();
  return err_;
}

bool Background::wait_for_output(const std::string& needle, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    pump();
    if (out_.find(needle) != std::string::npos || err_.find(needle) != std::string::npos)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

RunOutput Background::wait(std::chrono::milliseconds limit) {
  RunOutput r;
  auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (true) {
    pump();
    pid_t w = waitpid(pid_, &status, WNOHANG);
    if (w == pid_) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      r.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
  pump();
  r.out = out_;
  r.err = err_;
  fill_status(r, status);
  if (r.timed_out) r.exit_code = -1;
  return r;
}

}  // namespace provium::e2e
