// Runs a set of files in parallel and hands results to the caller in completion order
// (REFERENCE §10.5). A file is admitted when its per-file overhead fits in the pool, at most
// `max_parallel` run at once (one runner thread each, started at admission), and admission
// pauses while host pressure (PSI) is high. Ctrl-C and --fail-fast stop dispatch.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "runner/file_runner.hpp"
#include "scheduler/pool.hpp"
#include "scheduler/psi.hpp"

namespace provium::runner {

struct SuiteSettings {
  FileRunSettings file;        // watchdog/observer filled by the suite when null
  size_t max_parallel = 1;
  /// The run's pool: each running file holds the per-file overhead, its VMs their charges.
  /// Null: an unbounded pool is made.
  std::shared_ptr<scheduler::Pool> pool;
  scheduler::PsiMonitor* psi = nullptr;  // null or unavailable: no pressure throttling
  bool fail_fast = false;
};

struct SuiteOutcome {
  std::vector<FileResult> results;  // completion order, then never-started files
  std::map<std::string, std::set<std::string>> dependencies;  // abs test path -> required files
  bool interrupted = false;         // Ctrl-C
};

class Suite {
 public:
  explicit Suite(SuiteSettings settings);
  ~Suite();

  /// Runs `files`; `on_result` is called on the calling thread as each file completes.
  SuiteOutcome run(const std::vector<TestFile>& files,
                   const std::function<void(const FileResult&)>& on_result);

  /// Stops the run (safe from any thread): no new dispatch, running files are interrupted.
  void stop(const std::string& why);
  bool stopped() const { return stopped_.load(); }
  /// True when some runner thread was abandoned (still running detached): the process must
  /// end with _exit rather than run static destructors under it.
  bool abandoned_any() const;
  /// Files running right now.
  size_t running_files() const { return running_files_.load(); }

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
  std::atomic<bool> stopped_{false};
  std::atomic<size_t> running_files_{0};
};

}  // namespace provium::runner
