#include <fmt/format.h>

#include "report/reporter.hpp"

namespace provium::report {

Totals Totals::of(const std::vector<runner::FileResult>& results) {
  Totals t;
  for (auto& r : results) {
    if (r.never_started) continue;
    ++t.files;
    t.passed += r.count(runner::TestStatus::Passed);
    t.failed += r.count(runner::TestStatus::Failed);
    t.skipped += r.count(runner::TestStatus::Skipped);
    if (r.chunk_error) ++t.errored;
  }
  return t;
}

std::string summary_line(const Totals& t, std::chrono::duration<double> wall) {
  if (t.errored > 0)
    return fmt::format("{} file(s); {} passed, {} failed, {} skipped, {} file(s) errored; {:.2f}s", t.files,
                       t.passed, t.failed, t.skipped, t.errored, wall.count());
  return fmt::format("{} file(s); {} passed, {} failed, {} skipped; {:.2f}s", t.files, t.passed, t.failed,
                     t.skipped, wall.count());
}

}  // namespace provium::report
