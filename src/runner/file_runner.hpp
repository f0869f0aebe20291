// Runs one test file on the calling thread: a fresh Lua state, the top-level chunk, then each
// test in declaration order with its filters, timeout and scope teardown (REFERENCE §4, §10.7).
#pragma once

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "events/bus.hpp"
#include "runner/discovery.hpp"
#include "runner/interrupt.hpp"
#include "runner/observer.hpp"
#include "runner/result.hpp"
#include "runner/test_filter.hpp"
#include "runner/watchdog.hpp"
#include "scheduler/pool.hpp"
#include "vmm/backend.hpp"

namespace provium::fixture {
class Service;
}

namespace provium::runner {

struct FileRunSettings {
  const config::Config* config = nullptr;
  const TestFilter* filter = nullptr;
  std::optional<std::chrono::milliseconds> file_timeout;  // nullopt: disabled
  std::vector<std::string> roots;                         // for require
  vmm::Backend* backend = nullptr;
  RunObserver* observer = nullptr;  // may be null
  Watchdog* watchdog = nullptr;
  events::Bus* bus = nullptr;  // may be null
  fixture::Service* fixtures = nullptr;  // may be null (no fixture cache)
  /// The run's pool and this file's holder in it (set by the suite per file); null: VMs are
  /// not charged.
  std::shared_ptr<scheduler::Pool> pool;
  scheduler::Pool::HolderId pool_holder = 0;
};

struct FileRunOutput {
  FileResult result;
  std::set<std::string> dependencies;  // modules required while running (for --watch)
};

/// Runs `file`. `interrupt` is shared with whoever may stop the run (Ctrl-C); `on_stuck` is
/// called from the watchdog if an interrupt is not honoured within the grace period.
FileRunOutput run_file(const TestFile& file, const FileRunSettings& settings, Interrupt& interrupt,
                       std::function<void()> on_stuck);

}  // namespace provium::runner
