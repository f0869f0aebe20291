#include "events/run_events.hpp"

#include <fstream>
#include <sstream>

#include "runner/fixture_refs.hpp"

namespace provium::events {
namespace {

std::int64_t ns(std::chrono::nanoseconds d) { return static_cast<std::int64_t>(d.count()); }

}  // namespace

void RunEvents::discovered(const std::vector<runner::TestFile>& files,
                           const std::vector<std::filesystem::path>& roots) {
  (void)roots;
  for (auto& f : files) {
    std::ifstream in(f.abs, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    MetaArray refs;
    for (auto& r : runner::scan_fixture_refs(text)) refs.push_back(str(r));
    MetaMap p;
    p["path"] = str(f.display);
    p["fixture_refs"] = MetaValue{std::move(refs)};
    if (auto claim = runner::scan_declared_claim(text)) p["declared_claim"] = amount(claim->memory_bytes, claim->cpus);
    else p["declared_claim"] = MetaValue{};
    bus_->emit("file_discovered", std::move(p));
  }
}

void RunEvents::file_started(const runner::TestFile& f) {
  MetaMap p;
  p["path"] = str(f.display);
  p["reservation"] = amount(kFileOverheadBytes, 0);
  bus_->emit("file_dispatched", std::move(p));
}

void RunEvents::file_blocked(const runner::TestFile& f, std::uint64_t mem, std::uint32_t cpus, const std::string& why) {
  MetaMap p;
  p["path"] = str(f.display);
  p["waiting_for"] = amount(mem, cpus);
  p["reason"] = str(why);
  bus_->emit("file_blocked", std::move(p));
}

void RunEvents::test_started(const runner::TestFile& f, const std::string& name, const MetaMap& meta) {
  MetaMap p;
  p["path"] = str(f.display);
  p["name"] = str(name);
  p["meta"] = MetaValue{meta};
  bus_->emit("test_started", std::move(p));
}

void RunEvents::test_finished(const runner::TestFile& f, const runner::TestResult& tr) {
  MetaMap p;
  p["path"] = str(f.display);
  p["name"] = str(tr.name);
  p["meta"] = MetaValue{tr.meta};
  switch (tr.status) {
    case runner::TestStatus::Passed:
      p["duration_ns"] = num(ns(tr.duration));
      bus_->emit("test_passed", std::move(p));
      break;
    case runner::TestStatus::Failed:
      p["duration_ns"] = num(ns(tr.duration));
      p["reason"] = str(tr.message.value_or(""));
      p["console_excerpt"] = str(tr.console_excerpt);
      bus_->emit("test_failed", std::move(p));
      break;
    case runner::TestStatus::Skipped:
      p["reason"] = str(tr.message.value_or(""));
      bus_->emit("test_skipped", std::move(p));
      break;
  }
}

void RunEvents::file_finished(const runner::FileResult& r) {
  if (r.never_started) return;  // never dispatched: no file_completed without file_dispatched
  MetaMap p;
  p["path"] = str(r.file.display);
  p["status"] = str(runner::to_string(r.status == runner::FileStatus::Passed && !r.passed()
                                          ? runner::FileStatus::Failed
                                          : r.status));
  p["duration_ns"] = num(ns(r.duration));
  bus_->emit("file_completed", std::move(p));
}

}  // namespace provium::events
