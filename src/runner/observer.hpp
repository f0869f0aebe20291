// Run progress as it happens, for the live progress line and (later) the event stream.
// Called from runner threads: implementations must be thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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

/// Fans one observer call out to several.
class ObserverList : public RunObserver {
 public:
  void add(RunObserver* o) {
    if (o) list_.push_back(o);
  }
  void file_started(const TestFile& f) override {
    for (auto* o : list_) o->file_started(f);
  }
  void file_blocked(const TestFile& f, std::uint64_t m, std::uint32_t c,
                    const std::string& w) override {
    for (auto* o : list_) o->file_blocked(f, m, c, w);
  }
  void test_started(const TestFile& f, const std::string& n, const events::MetaMap& m) override {
    for (auto* o : list_) o->test_started(f, n, m);
  }
  void test_finished(const TestFile& f, const TestResult& t) override {
    for (auto* o : list_) o->test_finished(f, t);
  }
  void file_finished(const FileResult& r) override {
    for (auto* o : list_) o->file_finished(r);
  }

 private:
  std::vector<RunObserver*> list_;
};

}  // namespace provium::runner
