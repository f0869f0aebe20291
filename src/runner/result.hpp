// What running a file produces: per-test outcomes and the file's status, as reports consume them.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "events/meta_value.hpp"
#include "runner/discovery.hpp"

namespace provium::runner {

enum class TestStatus { Passed, Failed, Skipped };
enum class FileStatus { Passed, Failed, TimedOut, Crashed };

const char* to_string(TestStatus s);  // "passed" | "failed" | "skipped"
const char* to_string(FileStatus s);  // "passed" | "failed" | "timed_out" | "crashed"

struct TestResult {
  std::string name;
  TestStatus status = TestStatus::Passed;
  std::optional<std::string> message;  // failure text or skip reason
  std::vector<std::string> log;        // t:log lines
  events::MetaMap meta;
  std::chrono::nanoseconds duration{0};
  std::string console_excerpt;  // failed tests: tail of each booted VM's console
  std::string traceback;        // runtime errors: stack trimmed of harness frames (text, JUnit)
  bool ran = false;  // false for tests skipped without running (meta, filters, todo)
};

struct FileResult {
  TestFile file;
  FileStatus status = FileStatus::Passed;
  std::optional<std::string> chunk_error;
  std::string chunk_traceback;  // file-scope runtime errors: trimmed stack (text, JUnit)
  std::vector<TestResult> tests;
  std::chrono::nanoseconds duration{0};
  bool never_started = false;  // --fail-fast / interrupted before dispatch

  bool timed_out() const { return status == FileStatus::TimedOut; }
  /// No failed test, no chunk error, no timeout.
  bool passed() const;
  int count(TestStatus s) const;
};

}  // namespace provium::runner
