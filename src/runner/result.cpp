#include "runner/result.hpp"

namespace provium::runner {

const char* to_string(TestStatus s) {
  switch (s) {
    case TestStatus::Passed: return "passed";
    case TestStatus::Failed: return "failed";
    case TestStatus::Skipped: return "skipped";
  }
  return "?";
}

const char* to_string(FileStatus s) {
  switch (s) {
    case FileStatus::Passed: return "passed";
    case FileStatus::Failed: return "failed";
    case FileStatus::TimedOut: return "timed_out";
    case FileStatus::Crashed: return "crashed";
  }
  return "?";
}

bool FileResult::passed() const {
  if (chunk_error || status != FileStatus::Passed) return false;
  for (auto& t : tests)
    if (t.status == TestStatus::Failed) return false;
  return true;
}

int FileResult::count(TestStatus s) const {
  int n = 0;
  for (auto& t : tests) n += t.status == s;
  return n;
}

}  // namespace provium::runner
