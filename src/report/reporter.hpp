// Renderers of a run for people (text) and machines (JSON lines, JUnit XML).
#pragma once

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "runner/observer.hpp"
#include "runner/result.hpp"

namespace provium::report {

struct Totals {
  int files = 0, passed = 0, failed = 0, skipped = 0, errored = 0;
  static Totals of(const std::vector<runner::FileResult>& results);
};

enum class Verbosity { Quiet, Normal, Verbose };

/// Streams results to a FILE* as files complete, then the summary.
class Reporter : public runner::RunObserver {
 public:
  virtual void file_completed(const runner::FileResult& r) = 0;
  virtual void finish(const std::vector<runner::FileResult>& all, std::chrono::duration<double> wall,
                      bool interrupted) = 0;
  /// Nothing was discovered (after filters): a one-line notice.
  virtual void no_files(const std::string& message) = 0;
};

struct TextOptions {
  Verbosity verbosity = Verbosity::Normal;
  bool color = false;     // ANSI colours
  bool progress = false;  // live progress line (interactive terminal only)
  size_t total_files = 0;
};

std::unique_ptr<Reporter> make_text_reporter(std::FILE* out, TextOptions opts);
std::unique_ptr<Reporter> make_json_reporter(std::FILE* out);

/// The summary line: "N file(s); P passed, F failed, S skipped[, E file(s) errored]; X.XXs".
std::string summary_line(const Totals& t, std::chrono::duration<double> wall);

/// One JSON object per file, exactly the seed schema (path, timeout, passed, chunk_error, tests).
std::string file_json_line(const runner::FileResult& r);

/// JUnit XML for CI systems: one testsuite per file, one testcase per test.
std::string junit_xml(const std::vector<runner::FileResult>& all, std::chrono::duration<double> wall);

}  // namespace provium::report
