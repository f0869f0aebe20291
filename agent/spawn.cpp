#include "agent/spawn.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "proto/protocol.hpp"

extern char** environ;

namespace provium::agent {

using proto::Value;

ExecArgs parse_exec_args(const Value& p) {
  ExecArgs a;
  a.cmd = proto::str_field(p, "cmd");
  if (auto args = proto::opt_field(p, "args")) {
    auto arr = args->as_array();
    if (!arr) throw proto::DecodeError("field `args` must be an array of strings");
    for (auto& v : *arr) {
      if (!v.as_string()) throw proto::DecodeError("field `args` must be an array of strings");
      a.args.push_back(*v.as_string());
    }
  }
  if (auto env = proto::opt_field(p, "env")) {
    auto m = env->as_map();
    if (!m) throw proto::DecodeError("field `env` must be a map of strings");
    for (auto& [k, v] : *m) {
      if (!v.as_string()) throw proto::DecodeError("field `env` must be a map of strings");
      a.env[k] = *v.as_string();
    }
  }
  a.env_clear = proto::bool_field_or(p, "env_clear", false);
  if (proto::opt_field(p, "stdin")) a.stdin_data = proto::bytes_field(p, "stdin");
  if (proto::opt_field(p, "cwd")) a.cwd = proto::str_field(p, "cwd");
  if (proto::opt_field(p, "timeout_ms")) a.timeout_ms = proto::int_field(p, "timeout_ms");
  if (a.cmd.empty()) throw proto::DecodeError("field `cmd` must not be empty");
  return a;
}

std::shared_ptr<Process> spawn(const ExecArgs& a, Fd& out_fd, Fd& err_fd) {
  // argv and envp are built here, in the parent; posix_spawn only duplicates fds and execs.
  std::vector<std::string> argv_s{a.cmd};
  argv_s.insert(argv_s.end(), a.args.begin(), a.args.end());
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::map<std::string, std::string> env;
  if (!a.env_clear) {
    for (char** e = environ; *e; ++e) {
      const char* eq = std::strchr(*e, '=');
      if (eq) env[std::string(*e, static_cast<size_t>(eq - *e))] = eq + 1;
    }
    if (!env.count("PATH"))
      env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  }
  for (auto& [k, v] : a.env) env[k] = v;
  std::vector<std::string> env_s;
  for (auto& [k, v] : env) env_s.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_s) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string path_env = env.count("PATH") ? env["PATH"] : "/usr/sbin:/usr/bin:/sbin:/bin";
  const char* cwd = a.cwd ? a.cwd->c_str() : "/";

  int in_p[2], out_p[2], err_p[2];
  if (::pipe2(in_p, O_CLOEXEC) || ::pipe2(out_p, O_CLOEXEC) || ::pipe2(err_p, O_CLOEXEC))
    throw OsError{errno, "pipe"};
  // Resolve the program against the child's PATH (posix_spawnp would search ours).
  std::string resolved = a.cmd;
  if (a.cmd.find('/') == std::string::npos) {
    size_t start = 0;
    while (start <= path_env.size()) {
      size_t end = path_env.find(':', start);
      if (end == std::string::npos) end = path_env.size();
      std::string dir = path_env.substr(start, end - start);
      std::string cand = (dir.empty() ? "." : dir) + "/" + a.cmd;
      if (::access(cand.c_str(), X_OK) == 0) {
        resolved = cand;
        break;
      }
      start = end + 1;
    }
  }
  // posix_spawn (clone with CLONE_VFORK in glibc) instead of fork: the agent is threaded and
  // large, and copying its page tables made every exec cost milliseconds.
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_p[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out_p[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_p[1], 2);
  posix_spawn_file_actions_addchdir_np(&fa, cwd);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);  // every child leads its own process group
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, resolved.c_str(), &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  for (int fd : {in_p[0], out_p[1], err_p[1]}) ::close(fd);
  if (rc != 0) {
    ::close(in_p[1]);
    ::close(out_p[0]);
    ::close(err_p[0]);
    bool cwd_missing = a.cwd && ::access(cwd, X_OK) != 0;
    throw OsError{rc, cwd_missing ? "cwd `" + *a.cwd + "`" : "exec `" + a.cmd + "`"};
  }
  kick_reaper();
  auto proc = std::make_shared<Process>();
  proc->pid = pid;
  proc->stdin_fd = Fd(in_p[1]);
  State::get().watch_pid(pid, proc);
  out_fd = Fd(out_p[0]);
  err_fd = Fd(err_p[0]);
  return proc;
}

Value exit_status_value(int st, bool timed_out) {
  proto::Map m;
  if (timed_out) {
    m["kind"] = Value{"timed_out"};
    m["value"] = Value{};
  } else if (WIFSIGNALED(st)) {
    m["kind"] = Value{"signalled"};
    m["value"] = Value{static_cast<std::int64_t>(WTERMSIG(st))};
  } else {
    m["kind"] = Value{"exited"};
    m["value"] = Value{static_cast<std::int64_t>(WEXITSTATUS(st))};
  }
  return Value{std::move(m)};
}

}  // namespace provium::agent
