// Helpers for end-to-end tests: a scratch project directory and a way to run the real
// `provium` binary in it, capturing stdout, stderr and the exit code.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace provium::e2e {

namespace fs = std::filesystem;

struct RunOutput {
  int exit_code = -1;  // -1 when killed by a signal or timed out
  int signal = 0;
  bool timed_out = false;
  std::string out, err;
};

/// A temporary directory, removed with everything in it when the object dies.
class Project {
 public:
  Project();
  ~Project();
  Project(const Project&) = delete;
  Project& operator=(const Project&) = delete;

  const fs::path& dir() const { return dir_; }
  /// Writes `content` to dir()/rel, creating parent directories.
  fs::path write(const std::string& rel, const std::string& content) const;
  std::string read(const std::string& rel) const;

  /// Runs `provium args...` with cwd = dir() (or `cwd`), extra environment `env` (a value of
  /// nullopt unsets the variable), and a hard limit after which the process is killed.
  /// HOME, PROVIUM_RERUN_STATE and XDG_CACHE_HOME point into the project unless overridden.
  RunOutput run(const std::vector<std::string>& args,
                const std::map<std::string, std::optional<std::string>>& env = {},
                std::chrono::milliseconds limit = std::chrono::seconds(60),
                const std::optional<fs::path>& cwd = std::nullopt) const;

 private:
  fs::path dir_;
};

/// Starts provium in the background (for --watch and signal tests).
class Background {
 public:
  Background(const Project& p, const std::vector<std::string>& args,
             const std::map<std::string, std::optional<std::string>>& env = {});
  ~Background();  // kills the process if still running
  int pid() const { return pid_; }
  void signal(int sig) const;
  /// Output collected so far (non-blocking read of the pipes).
  std::string out();
  std::string err();
  /// Waits until stdout+stderr contain `needle`; false on timeout.
  bool wait_for_output(const std::string& needle, std::chrono::milliseconds limit);
  /// Waits for exit; returns the result (exit_code -1 on timeout, then the process is killed).
  RunOutput wait(std::chrono::milliseconds limit);

 private:
  void pump();
  int pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  std::string out_, err_;
};

/// This process's environment with `extra` applied (a nullopt value unsets the variable).
std::vector<std::string> environment_with(
    const std::map<std::string, std::optional<std::string>>& extra);

/// Runs `program` (argv, program[0] a path) in `cwd` with exactly `env`, feeding `stdin_data`,
/// capturing stdout and stderr; killed after `limit`.
RunOutput run_program(const std::vector<std::string>& program, const fs::path& cwd,
                      const std::vector<std::string>& env, const std::string& stdin_data = "",
                      std::chrono::milliseconds limit = std::chrono::seconds(30));

/// Path of the provium binary under test.
std::string provium_bin();

}  // namespace provium::e2e
