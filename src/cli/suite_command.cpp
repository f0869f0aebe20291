#include "cli/suite_command.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "cli/event_setup.hpp"
#include "cli/signals.hpp"
#include "config/build.hpp"
#include "config/config.hpp"
#include "events/run_events.hpp"
#include "report/reporter.hpp"
#include "runner/discovery.hpp"
#include "runner/fixture_refs.hpp"
#include "runner/suite.hpp"
#include "util/duration.hpp"
#include "util/host.hpp"
#include "cli/preflight.hpp"
#include "fixture/service.hpp"
#include "scheduler/durations.hpp"
#include "scheduler/partition.hpp"
#include "scheduler/pool.hpp"
#include "scheduler/psi.hpp"
#include "vmm/backend.hpp"

namespace provium::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool write_atomically(const fs::path& path, const std::string& body, std::string& err) {
  fs::path tmp = path;
  tmp += fmt::format(".tmp.{}", ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) {
      err = fmt::format("cannot write `{}`: {}", tmp.string(), std::strerror(errno));
      return false;
    }
    out << body;
    out.flush();
    if (!out) {
      err = fmt::format("cannot write `{}`: {}", tmp.string(), std::strerror(errno));
      std::error_code ec;
      fs::remove(tmp, ec);
      return false;
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    err = fmt::format("cannot write `{}`: {}", path.string(), ec.message());
    fs::remove(tmp, ec);
    return false;
  }
  return true;
}

// What the file selection produced for one iteration.
struct Selection {
  std::vector<runner::TestFile> files;
  std::vector<fs::path> roots;
  int exit_code = -1;  // >= 0: stop with this code before running
  bool usage_problem = false;
};

Selection select_files(const Options& o, const config::Config& cfg, bool watching) {
  Selection s;
  auto d = runner::discover(o.paths, cfg.roots);
  for (auto& p : d.problems) fmt::print(stderr, "provium: {}\n", p);
  s.usage_problem = !d.problems.empty();
  s.roots = d.roots;
  s.files = std::move(d.files);
  if (o.filter) runner::apply_filter(s.files, *o.filter);
  if (o.rerun_failed && !watching) {
    auto path = runner::rerun_state_path();
    std::optional<std::vector<std::string>> failed;
    try {
      failed = runner::read_rerun_state(path);
    } catch (const std::exception& e) {
      fmt::print(stderr, "provium: --rerun-failed: {}\n", e.what());
      s.exit_code = 2;
      return s;
    }
    if (!failed) {
      fmt::print(stderr,
                 "provium: --rerun-failed: no previous failures recorded in `{}`; nothing to run\n",
                 path.string());
      s.exit_code = s.usage_problem ? 2 : 0;
      return s;
    }
    runner::apply_rerun(s.files, *failed);
  }
  if (o.since) {
    if (auto err = runner::apply_since(s.files, *o.since)) {
      fmt::print(stderr, "provium: {}\n", *err);
      s.exit_code = 2;
      return s;
    }
  }
  if (o.partition) runner::apply_partition(s.files, *o.partition);
  return s;
}

// One run over `files`: render, JUnit, rerun state. Returns the exit code of this run.
struct RunResult {
  int exit_code = 0;
  std::map<std::string, std::set<std::string>> dependencies;
};

// Pool totals from --mem / --cpus / --cpu-overcommit (REFERENCE §2.2).
scheduler::Amount pool_totals(const Options& o) {
  std::uint64_t mem = o.mem.value_or(util::host_memory_total() ? *util::host_memory_total() / 10 * 8
                                                               : (8ull << 30));
  double cpus = static_cast<double>(o.cpus.value_or(util::host_online_cpus().value_or(8)));
  auto total = static_cast<std::uint32_t>(std::max(1.0, std::round(cpus * o.cpu_overcommit)));
  return {mem, total};
}

// Emits pool_state every second while a run is in progress.
class PoolStateTicker {
 public:
  PoolStateTicker(events::Bus& bus, const scheduler::Pool& pool) : bus_(bus), pool_(pool) {
    if (bus_.enabled()) thread_ = std::thread([this] { loop(); });
  }
  ~PoolStateTicker() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void loop() {
    std::unique_lock lk(mu_);
    while (!cv_.wait_for(lk, std::chrono::seconds(1), [&] { return stop_; })) {
      auto used = pool_.used();
      auto free = pool_.free();
      events::MetaMap p;
      p["used"] = events::amount(used.memory, used.cpus);
      p["available"] = events::amount(free.memory, free.cpus);
      bus_.emit("pool_state", std::move(p));
    }
  }
  events::Bus& bus_;
  const scheduler::Pool& pool_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// Longest-expected files first, from the durations of earlier runs (REFERENCE §10.5).
std::vector<runner::TestFile> in_dispatch_order(const std::vector<runner::TestFile>& files,
                                                const scheduler::DurationHistory& history) {
  std::vector<std::string> keys;
  for (auto& f : files) keys.push_back(f.abs.string());
  std::vector<runner::TestFile> out;
  for (size_t i : history.dispatch_order(keys)) out.push_back(files[i]);
  return out;
}

void record_durations(const std::vector<runner::FileResult>& results) {
  auto path = scheduler::DurationHistory::default_path();
  auto history = scheduler::DurationHistory::load(path);
  for (auto& r : results)
    if (!r.never_started) history.record(r.file.abs.string(), r.duration);
  if (auto err = history.save(path); !err.empty())
    fmt::print(stderr, "provium: warning: file durations not saved: {}\n", err);
}

scheduler::PsiMonitor& psi_monitor() {
  static scheduler::PsiMonitor psi;
  static bool told = false;
  if (!psi.available() && !told) {
    told = true;
    fmt::print(stderr,
               "provium: notice: host pressure information (PSI, {}/memory) is not available; "
               "dispatch is not throttled by host load\n",
               psi.root());
  }
  return psi;
}

// Startup order (REFERENCE §2.7): fixture-cache eviction, then profile builds, then discovery.
void evict_fixtures_to_limit(const config::Config& cfg) {
  fixture::Cache cache(cfg.effective_cache_dir());
  auto removed = cache.evict_to(cfg.cache_max_size);
  if (!removed.empty())
    fmt::print(stderr, "provium: fixture cache: evicted {} least recently used entr{} to stay under cache_max_size\n",
               removed.size(), removed.size() == 1 ? "y" : "ies");
}

RunResult run_once(const Options& o, const config::Config& cfg, const Selection& sel,
                   StopSignal& sig, EventSetup& ev) {
  std::FILE* out = o.events_stdout ? stderr : stdout;
  bool tty = ::isatty(::fileno(out));
  const char* no_color = std::getenv("NO_COLOR");
  std::unique_ptr<report::Reporter> reporter;
  if (o.json) {
    reporter = report::make_json_reporter(out);
  } else {
    report::TextOptions t;
    t.verbosity = o.quiet     ? report::Verbosity::Quiet
                  : o.verbose ? report::Verbosity::Verbose
                              : report::Verbosity::Normal;
    t.color = tty && !(no_color && *no_color);
    t.progress = tty && !o.no_progress;
    t.total_files = sel.files.size();
    reporter = report::make_text_reporter(out, t);
  }
  RunResult rr;
  if (sel.files.empty()) {
    std::string msg = "no test files found (looked for *.test.lua";
    msg += o.paths.empty()
               ? (cfg.roots.empty() ? " under the current directory" : " under [provium] roots")
               : " under the given paths";
    msg += o.filter || o.since || o.rerun_failed ? " after filters)" : ")";
    fmt::print(stderr, "provium: {}\n", msg);
    reporter->no_files(msg);
    rr.exit_code = sel.usage_problem ? 2 : 0;
    return rr;
  }

  runner::TestFilter filter;
  filter.include_slow = o.include_slow;
  filter.tags = o.tags;
  filter.no_tags = o.no_tags;
  filter.tag_meta = o.tag_meta;
  filter.no_tag_meta = o.no_tag_meta;
  runner::SuiteSettings ss;
  ss.file.config = &cfg;
  ss.file.filter = &filter;
  ss.file.file_timeout = o.timeout;
  for (auto& r : sel.roots) ss.file.roots.push_back(r.string());
  vmm::BackendSettings vs;
  vs.accel = o.accel;
  vs.transport = o.transport;
  vs.ksm = !o.no_ksm;
  ss.file.backend = vmm::backend_for(o.vmm, vs);
  events::RunEvents run_events(&ev.bus());
  runner::ObserverList observers;
  observers.add(reporter.get());
  if (ev.bus().enabled()) observers.add(&run_events);
  ss.file.observer = &observers;
  ss.file.bus = ev.bus().enabled() ? &ev.bus() : nullptr;
  fixture::Service fixtures(
      fixture::service_settings(cfg, sel.roots, ss.file.backend, ss.file.bus));
  ss.file.fixtures = &fixtures;
  auto totals = pool_totals(o);
  auto pool = std::make_shared<scheduler::Pool>(totals);
  ss.pool = pool;
  ss.psi = &psi_monitor();
  // One runner thread per vCPU of the pool: a file without VMs keeps a CPU busy running Lua.
  ss.max_parallel = std::max<std::uint32_t>(1, totals.cpus);
  ss.fail_fast = o.fail_fast;

  if (ev.bus().enabled()) run_events.discovered(sel.files, sel.roots);
  runner::Suite suite(ss);
  sig.on_stop([&suite] { suite.stop("interrupted (Ctrl-C)"); });
  auto started = Clock::now();
  runner::SuiteOutcome outcome;
  {
    PoolStateTicker ticker(ev.bus(), *pool);
    auto order = in_dispatch_order(
        sel.files, scheduler::DurationHistory::load(scheduler::DurationHistory::default_path()));
    outcome = suite.run(order, [&](const runner::FileResult& r) { reporter->file_completed(r); });
  }
  record_durations(outcome.results);
  sig.on_stop(nullptr);
  std::chrono::duration<double> wall = Clock::now() - started;
  reporter->finish(outcome.results, wall, outcome.interrupted);
  rr.dependencies = outcome.dependencies;

  bool any_failed = false;
  std::vector<std::string> failed_paths;
  for (auto& r : outcome.results) {
    if (r.passed() || r.never_started) continue;
    any_failed = true;
    std::error_code ec;
    auto c = fs::weakly_canonical(r.file.abs, ec);
    failed_paths.push_back(ec ? r.file.abs.string() : c.string());
  }
  rr.exit_code = (any_failed || outcome.interrupted) ? 1 : 0;
  if (sel.usage_problem) rr.exit_code = 2;

  if (o.junit) {
    std::string err;
    if (!write_atomically(*o.junit, report::junit_xml(outcome.results, wall), err)) {
      fmt::print(stderr, "provium: --junit: {}\n", err);
      rr.exit_code = 2;
    }
  }
  if (!ev.run_coverage()) rr.exit_code = std::max(rr.exit_code, 1);
  if (any_failed) {
    try {
      runner::write_rerun_state(runner::rerun_state_path(), failed_paths);
    } catch (const std::exception& e) {
      fmt::print(stderr, "provium: warning: {}\n", e.what());
    }
  }
  if (suite.abandoned_any()) {
    // A runner thread is stuck in host code and still owns its Lua state: end the process
    // without running destructors under it.
    std::fflush(stdout);
    std::fflush(stderr);
    ev.remove_temp_files();
    std::_Exit(rr.exit_code);
  }
  return rr;
}

// --watch: (path -> mtime) of everything whose change should trigger a re-run.
using Stamps = std::map<std::string, fs::file_time_type>;

fs::file_time_type mtime_of(const std::string& p) {
  std::error_code ec;
  auto t = fs::last_write_time(p, ec);
  return ec ? fs::file_time_type::min() : t;
}

int watch_loop(const Options& o, StopSignal& sig, EventSetup& ev) {
  std::optional<std::set<std::string>> only;          // nullopt: everything
  std::map<std::string, std::set<std::string>> deps;  // test file -> required modules + fixtures
  Stamps config_stamps, file_stamps, input_stamps;
  std::unique_ptr<config::Config> cfg;
  bool reload = true;
  while (!sig.requested()) {
    if (reload) {
      try {
        cfg = std::make_unique<config::Config>(config::load(o.config, o.config_explicit));
      } catch (const config::ConfigError& e) {
        fmt::print(stderr, "provium: {}\n", e.what());
        cfg.reset();
      }
      config_stamps.clear();
      if (o.config_explicit || fs::exists(o.config))
        config_stamps[fs::absolute(o.config).string()] = mtime_of(o.config);
      if (cfg)
        for (auto& f : cfg->watched_files()) config_stamps[f.string()] = mtime_of(f.string());
      if (cfg) evict_fixtures_to_limit(*cfg);
      if (cfg && !o.no_build) {
        if (auto err = config::run_all_builds(*cfg)) {
          fmt::print(stderr, "{}\n", *err);
          cfg.reset();
        }
      }
      reload = false;
      only.reset();
    }
    if (cfg) {
      // One discovery per iteration: the full set is what gets watched; the run takes only the
      // files affected by the last change.
      auto all = select_files(o, *cfg, true);
      file_stamps.clear();
      for (auto& f : all.files) file_stamps[f.abs.string()] = mtime_of(f.abs.string());
      if (all.exit_code < 0) {
        Selection sel = all;
        if (only)
          std::erase_if(sel.files,
                        [&](const runner::TestFile& f) { return !only->count(f.abs.string()); });
        ev.next_iteration();
        auto rr = run_once(o, *cfg, sel, sig, ev);
        for (auto& [file, d] : rr.dependencies) deps[file] = d;
      }
      // Fixtures a file names statically count as its inputs too.
      input_stamps.clear();
      for (auto& f : all.files) {
        for (auto& name : runner::scan_fixture_refs(read_all(f.abs))) {
          auto fx = runner::resolve_fixture(name, all.roots);
          if (!fx.empty()) deps[f.abs.string()].insert(fs::absolute(fx).string());
        }
        for (auto& d : deps[f.abs.string()]) input_stamps[d] = mtime_of(d);
      }
    }
    if (sig.requested()) break;
    fmt::print(stderr, "provium: watching for changes (Ctrl-C to stop)\n");
    // Poll every 500 ms until something changes.
    while (!sig.wait_for(std::chrono::milliseconds(500))) {
      bool config_changed = false;
      for (auto& [p, t] : config_stamps) config_changed |= mtime_of(p) != t;
      if (config_changed) {
        fmt::print(stderr, "provium: configuration changed; re-running everything\n");
        reload = true;
        break;
      }
      if (!cfg) continue;
      auto now = runner::discover(o.paths, cfg->roots);
      std::set<std::string> changed;
      for (auto& f : now.files) {
        auto key = f.abs.string();
        auto it = file_stamps.find(key);
        if (it == file_stamps.end() || mtime_of(key) != it->second) changed.insert(key);
      }
      for (auto& [file, d] : deps)
        for (auto& in : d)
          if (auto it = input_stamps.find(in);
              it != input_stamps.end() && mtime_of(in) != it->second)
            changed.insert(file);
      if (!changed.empty()) {
        fmt::print(stderr, "\nprovium: change detected; re-running {} file(s)\n", changed.size());
        only = changed;
        break;
      }
    }
  }
  return 1;  // stopped by Ctrl-C
}

}  // namespace

int run_suite_command(const Options& o) {
  auto& sig = StopSignal::install();
  if (o.overcommit_notice) fmt::print(stderr, "{}\n", *o.overcommit_notice);
  if (auto totals = pool_totals(o); totals.memory < scheduler::kFileOverheadBytes) {
    fmt::print(stderr,
               "provium: --mem {}: the pool must hold at least one file's overhead (50 MiB) plus "
               "the VMs a file boots (memory + 100 MiB each), e.g. --mem 1G\n",
               util::format_size(totals.memory));
    return 2;
  }
  EventSetup ev(o);
  if (o.watch) {
    if (o.rerun_failed) fmt::print(stderr, "provium: --rerun-failed is ignored under --watch\n");
    return watch_loop(o, sig, ev);
  }
  std::unique_ptr<config::Config> cfg;
  try {
    cfg = std::make_unique<config::Config>(config::load(o.config, o.config_explicit));
  } catch (const config::ConfigError& e) {
    fmt::print(stderr, "provium: {}\n", e.what());
    return 2;
  }
  if (auto err = preflight(o)) {
    fmt::print(stderr, "{}\n", *err);
    return 2;
  }
  evict_fixtures_to_limit(*cfg);
  if (!o.no_build) {
    if (auto err = config::run_all_builds(*cfg)) {
      fmt::print(stderr, "{}\n", *err);
      return 2;
    }
  }
  auto sel = select_files(o, *cfg, false);
  if (sel.exit_code >= 0) return sel.exit_code;
  ev.next_iteration();
  return run_once(o, *cfg, sel, sig, ev).exit_code;
}

}  // namespace provium::cli
