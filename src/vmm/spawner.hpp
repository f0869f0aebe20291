// Long-lived helper processes (QEMU, the janitor) are started here, by one thread that lives as
// long as provium: PR_SET_PDEATHSIG fires when the *thread* that forked a child exits, so
// forking from a runner thread would kill a VM when its file finishes (REFERENCE §12 #13).
// Children get their own process group, SIGKILL when provium dies (re-checked after the
// prctl), an empty signal mask, /dev/null stdin/stdout and stderr to a file.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace provium::vmm {

struct SpawnSpec {
  std::vector<std::string> argv;  // argv[0] is looked up on PATH
  std::string stderr_path;        // "" = /dev/null
  int stdin_fd = -1;              // -1 = /dev/null
  int stdout_fd = -1;             // -1 = /dev/null
  int stderr_fd = -1;             // >= 0: instead of stderr_path
  std::vector<int> keep_fds;      // inherited under the same numbers (QEMU's tap fds)
  int netns_fd = -1;              // >= 0: the child joins this network namespace before exec
  bool die_with_provium = true;   // PR_SET_PDEATHSIG(SIGKILL)
  bool batch_priority = false;    // SCHED_BATCH (failure ignored)
};

/// Starts the process; throws std::runtime_error naming the program when fork or exec fails.
pid_t spawn_process(const SpawnSpec& spec);

/// Removes registered paths when provium ends in any way, SIGKILL included: a small shell
/// process outlives us, reads "+path"/"-path" lines from a pipe, and at EOF deletes what is
/// still registered.
void janitor_watch(const std::string& path);
void janitor_forget(const std::string& path);

}  // namespace provium::vmm
