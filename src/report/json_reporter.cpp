// --json: one object per file per line, in completion order (seed CLI reference, "JSON").
#include <fmt/format.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "report/reporter.hpp"
#include "util/text.hpp"

namespace provium::report {
namespace {

using ojson = nlohmann::ordered_json;

ojson opt_string(const std::optional<std::string>& s) {
  return s ? ojson(*s) : ojson(nullptr);
}

class JsonReporter : public Reporter {
 public:
  explicit JsonReporter(std::FILE* out) : out_(out) {}
  void file_completed(const runner::FileResult& r) override {
    std::lock_guard lk(mu_);
    fmt::print(out_, "{}\n", file_json_line(r));
    std::fflush(out_);
  }
  void finish(const std::vector<runner::FileResult>&, std::chrono::duration<double>, bool) override {}
  void no_files(const std::string& message) override {
    ojson j;
    j["type"] = "no_files";
    j["message"] = message;
    fmt::print(out_, "{}\n", j.dump(-1, ' ', false, ojson::error_handler_t::replace));
    std::fflush(out_);
  }

 private:
  std::FILE* out_;
  std::mutex mu_;
};

}  // namespace

std::string file_json_line(const runner::FileResult& r) {
  ojson j;
  j["path"] = r.file.display;
  j["timeout"] = r.timed_out() ? "timed_out" : "in_time";
  j["passed"] = r.passed();
  j["chunk_error"] = opt_string(r.chunk_error);
  ojson tests = ojson::array();
  for (auto& t : r.tests) {
    ojson tj;
    tj["name"] = t.name;
    tj["status"] = runner::to_string(t.status);
    tj["message"] = opt_string(t.message);
    tj["log"] = t.log;
    tests.push_back(std::move(tj));
  }
  j["tests"] = std::move(tests);
  // Invalid UTF-8 (a non-UTF-8 path, bytes in a message) is replaced, never a crash.
  return j.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

std::unique_ptr<Reporter> make_json_reporter(std::FILE* out) { return std::make_unique<JsonReporter>(out); }

}  // namespace provium::report
