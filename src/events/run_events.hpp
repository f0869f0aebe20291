// Translates the runner's progress into event frames (REFERENCE §11.2): a RunObserver that
// emits test_* and file_* events from the real transitions, as they happen.
#pragma once

#include <string>
#include <vector>

#include "events/bus.hpp"
#include "runner/discovery.hpp"
#include "runner/observer.hpp"
#include "scheduler/pool.hpp"

namespace provium::events {

/// Per-file overhead reserved while a file runs (REFERENCE §10.2): 50 MiB, no CPU.
inline constexpr std::uint64_t kFileOverheadBytes = scheduler::kFileOverheadBytes;

class RunEvents : public runner::RunObserver {
 public:
  explicit RunEvents(Bus* bus) : bus_(bus) {}
  void file_started(const runner::TestFile& f) override;
  void file_blocked(const runner::TestFile& f, std::uint64_t mem, std::uint32_t cpus,
                    const std::string& why) override;
  void test_started(const runner::TestFile& f, const std::string& name,
                    const MetaMap& meta) override;
  void test_finished(const runner::TestFile& f, const runner::TestResult& tr) override;
  void file_finished(const runner::FileResult& r) override;

  /// `file_discovered` for every selected file, before any dispatch.
  void discovered(const std::vector<runner::TestFile>& files,
                  const std::vector<std::filesystem::path>& roots);

 private:
  Bus* bus_;
};

}  // namespace provium::events
