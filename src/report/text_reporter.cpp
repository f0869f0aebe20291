// Plain text for people (seed CLI reference, "Plain text"), with colour and a live progress
// line only on an interactive terminal.
#include <fmt/format.h>

#include <mutex>
#include <set>

#include "report/reporter.hpp"
#include "util/text.hpp"

namespace provium::report {
namespace {

using runner::FileResult;
using runner::TestStatus;

constexpr const char* kGreen = "\x1b[32m";
constexpr const char* kRed = "\x1b[31;1m";
constexpr const char* kYellow = "\x1b[33m";
constexpr const char* kDim = "\x1b[2m";
constexpr const char* kReset = "\x1b[0m";

class TextReporter : public Reporter {
 public:
  TextReporter(std::FILE* out, TextOptions o) : out_(out), o_(o) {}

  void file_started(const runner::TestFile&) override {
    std::lock_guard lk(mu_);
    ++running_files_;
    redraw_bar();
  }
  void test_started(const runner::TestFile&, const std::string&, const events::MetaMap&) override {
    std::lock_guard lk(mu_);
    ++running_tests_;
    redraw_bar();
  }
  void test_finished(const runner::TestFile&, const runner::TestResult& tr) override {
    std::lock_guard lk(mu_);
    if (tr.ran && running_tests_ > 0) --running_tests_;
    ++tests_done_;
    redraw_bar();
  }

  void file_completed(const FileResult& r) override {
    std::lock_guard lk(mu_);
    ++files_done_;
    if (running_files_ > 0 && !r.never_started) --running_files_;
    clear_bar();
    bool failing = !r.passed();
    if (o_.verbosity == Verbosity::Quiet && !failing) {
      redraw_bar();
      return;
    }
    std::string prefix = o_.progress ? fmt::format("[{}/{}] ", files_done_, o_.total_files) : "";
    if (r.never_started) {
      line(fmt::format("{}{} {} ({})", prefix, paint("SKIP", kYellow), r.file.display,
                       r.chunk_error.value_or("not started")));
      redraw_bar();
      return;
    }
    const char* word = r.timed_out() ? "TIME" : failing ? "FAIL" : "PASS";
    const char* colour = r.timed_out() ? kYellow : failing ? kRed : kGreen;
    line(fmt::format("{}{} {} ({} passed, {} failed, {} skipped)", prefix, paint(word, colour),
                     util::sanitize_utf8(r.file.display), r.count(TestStatus::Passed),
                     r.count(TestStatus::Failed), r.count(TestStatus::Skipped)));
    if (r.chunk_error) indented(*r.chunk_error, 4);
    if (!r.chunk_traceback.empty()) {
      indented("stack traceback:", 4);
      indented(r.chunk_traceback, 4);
    }
    for (auto& t : r.tests) {
      if (t.status == TestStatus::Failed) {
        line(fmt::format("    {} {}", paint("FAIL", kRed), util::sanitize_utf8(t.name)));
        if (t.message) indented(*t.message, 8);
        if (!t.traceback.empty()) {
          indented("stack traceback:", 8);
          indented(t.traceback, 8);
        }
      } else if (o_.verbosity == Verbosity::Verbose) {
        if (t.status == TestStatus::Passed) {
          line(fmt::format("    {} {}", paint("PASS", kGreen), util::sanitize_utf8(t.name)));
        } else {
          line(fmt::format("    {} {}", paint("SKIP", kYellow), util::sanitize_utf8(t.name)));
          if (t.message) indented(*t.message, 8);
        }
      }
    }
    std::fflush(out_);
    redraw_bar();
  }

  void finish(const std::vector<FileResult>& all, std::chrono::duration<double> wall,
              bool interrupted) override {
    std::lock_guard lk(mu_);
    clear_bar();
    o_.progress = false;
    line("");
    if (interrupted) line(paint("interrupted: partial results", kYellow));
    line(summary_line(Totals::of(all), wall));
    std::fflush(out_);
  }

  void no_files(const std::string&) override {}

 private:
  std::string paint(const char* word, const char* colour) const {
    if (!o_.color) return word;
    return fmt::format("{}{}{}", colour, word, kReset);
  }
  void line(const std::string& s) { fmt::print(out_, "{}\n", s); }
  void indented(const std::string& text, int n) {
    std::string pad(static_cast<size_t>(n), ' ');
    auto lines = util::split_lines(util::sanitize_utf8(text));
    if (lines.empty()) lines.push_back("");
    for (auto& l : lines) line(pad + l);
  }
  void clear_bar() {
    if (o_.progress && bar_shown_) {
      fmt::print(out_, "\r\x1b[K");
      bar_shown_ = false;
    }
  }
  void redraw_bar() {
    if (!o_.progress) return;
    fmt::print(out_, "\r\x1b[K{}[{}/{}] {} file(s) running · {} test(s) running · {} done{}",
               o_.color ? kDim : "", files_done_, o_.total_files, running_files_, running_tests_,
               tests_done_, o_.color ? kReset : "");
    std::fflush(out_);
    bar_shown_ = true;
  }

  std::FILE* out_;
  TextOptions o_;
  std::mutex mu_;
  size_t files_done_ = 0, running_files_ = 0, running_tests_ = 0, tests_done_ = 0;
  bool bar_shown_ = false;
};

}  // namespace

std::unique_ptr<Reporter> make_text_reporter(std::FILE* out, TextOptions opts) {
  return std::make_unique<TextReporter>(out, opts);
}

}  // namespace provium::report
