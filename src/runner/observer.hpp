// Run progress as it happens, for the live progress line and (later) the event stream.
// Called from runner threads: implementations must be thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "events/meta_value.hpp"
#include "runner/result.hpp"

namespace provium::runner {

class RunObserver {
 public:
  virtual ~RunObserver() = default;
  virtual void file_started(const TestFile&) {}
  /// The file waits for pool resources before it can start (`reason`: pool_full, psi_pressure).
  virtual void file_blocked(const TestFile&, std::uint64_t /*memory_bytes*/, std::uint32_t /*cpus*/,
                            const std::string& /*reason*/) {}
  virtual void test_started(const TestFile&, const std::string& /*name*/, const events::MetaMap&) {}
  virtual void test_finished(const TestFile&, const TestResult&) {}
  virtual void file_finished(const FileResult&) {}
};

}  // namespace provium::runner
