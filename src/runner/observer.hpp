// Run progress as it happens, for the live progress line and (later) the event stream.
// Called from runner threads: implementations must be thread-safe.
#pragma once

#include <string>

#include "events/meta_value.hpp"
#include "runner/result.hpp"

namespace provium::runner {

class RunObserver {
 public:
  virtual ~RunObserver() = default;
  virtual void file_started(const TestFile&) {}
  virtual void test_started(const TestFile&, const std::string& /*name*/, const events::MetaMap&) {}
  virtual void test_finished(const TestFile&, const TestResult&) {}
  virtual void file_finished(const FileResult&) {}
};

}  // namespace provium::runner
