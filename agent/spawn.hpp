// Starting guest processes: ExecArgs decoding, fork/exec in a new process group, and the
// ExitStatus / ExecOk encodings (REFERENCE §6.6).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/state.hpp"
#include "proto/value.hpp"

namespace provium::agent {

struct ExecArgs {
  std::string cmd;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  bool env_clear = false;
  std::string stdin_data;
  std::optional<std::string> cwd;
  std::optional<std::int64_t> timeout_ms;
};

ExecArgs parse_exec_args(const proto::Value& payload);

/// Starts the program with posix_spawn; on success the Process has pid and stdin fd, and the
/// output pipes are returned in out_fd/err_fd. Throws OsError (errno of the failed exec) on launch
/// failure.
std::shared_ptr<Process> spawn(const ExecArgs& a, Fd& out_fd, Fd& err_fd);

/// {"kind": exited|signalled|timed_out, "value": code|signal|nil}
proto::Value exit_status_value(int wait_status, bool timed_out);

}  // namespace provium::agent
