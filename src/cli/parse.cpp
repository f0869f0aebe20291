#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cmath>

#include "cli/options.hpp"
#include "runner/test_filter.hpp"
#include "util/duration.hpp"

namespace provium::cli {
namespace {

struct Raw {
  std::vector<std::string> tag_meta, no_tag_meta;
  std::optional<std::string> mem, cpus, overcommit, timeout, partition;
  std::optional<std::string> console_mem, console_cpus;
  std::string vmm = "qemu", accel = "auto", transport = "auto";
};

// Value checks produce messages that name the flag, the bad value and the fix.
std::string check_values(Options& o, const Raw& r) {
  for (auto [raw, out, flag] : {std::tuple{&r.tag_meta, &o.tag_meta, "--tag-meta"},
                                std::tuple{&r.no_tag_meta, &o.no_tag_meta, "--no-tag-meta"}}) {
    for (auto& kv : *raw) {
      auto p = runner::parse_key_value(kv);
      if (!p)
        return fmt::format(
            "{} `{}`: expected KEY=VALUE with a non-empty KEY, e.g. {} subsystems=net", flag, kv,
            flag);
      out->push_back(*p);
    }
  }
  auto parse_mem = [](const std::optional<std::string>& s, const char* flag,
                      std::optional<std::uint64_t>& out) -> std::string {
    if (!s) return {};
    auto p = util::parse_size(*s);
    if (!p) return fmt::format("{}: {}", flag, p.error);
    if (*p.value == 0) return fmt::format("{} must be greater than 0 (e.g. {} 4G)", flag, flag);
    out = *p.value;
    return {};
  };
  auto parse_cpus = [](const std::optional<std::string>& s, const char* flag,
                       std::optional<std::uint32_t>& out) -> std::string {
    if (!s) return {};
    long long v = 0;
    size_t used = 0;
    try {
      v = std::stoll(*s, &used);
    } catch (...) {
      used = 0;
    }
    if (used != s->size() || s->empty())
      return fmt::format("{} `{}`: expected a whole number of CPUs", flag, *s);
    if (v < 1 || v > 4096) return fmt::format("{} must be between 1 and 4096, got {}", flag, v);
    out = static_cast<std::uint32_t>(v);
    return {};
  };
  if (auto e = parse_mem(r.mem, "--mem", o.mem); !e.empty()) return e;
  if (auto e = parse_cpus(r.cpus, "--cpus", o.cpus); !e.empty()) return e;
  if (auto e = parse_mem(r.console_mem, "--mem", o.console_mem); !e.empty()) return e;
  if (auto e = parse_cpus(r.console_cpus, "--cpus", o.console_cpus); !e.empty()) return e;
  if (r.overcommit) {
    double v = 0;
    size_t used = 0;
    try {
      v = std::stod(*r.overcommit, &used);
    } catch (...) {
      used = 0;
    }
    if (used != r.overcommit->size() || !std::isfinite(v))
      return fmt::format("--cpu-overcommit `{}`: expected a number such as 1.5", *r.overcommit);
    double clamped = std::clamp(v, 0.5, 8.0);
    if (clamped != v)
      o.overcommit_notice =
          fmt::format("provium: --cpu-overcommit {} clamped to {:.1f} (allowed range 0.5 to 8.0)",
                      *r.overcommit, clamped);
    o.cpu_overcommit = clamped;
  }
  if (r.partition) {
    auto p = scheduler::parse_partition(*r.partition, [](const char* n) { return std::getenv(n); });
    if (!p.partition) return p.error;
    o.partition = p.partition;
  }
  if (r.timeout) {
    auto p = util::parse_duration_ms(*r.timeout);
    if (!p) return fmt::format("--timeout: {}", p.error);
    if (p.value->count() == 0)
      o.timeout.reset();
    else
      o.timeout = *p.value;
  }
  auto choice = [](const std::string& v, std::initializer_list<const char*> allowed,
                   const char* flag, std::string& out) -> std::string {
    for (auto a : allowed)
      if (v == a) {
        out = v;
        return {};
      }
    std::string list;
    for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    return fmt::format("{} `{}`: must be one of {}", flag, v, list);
  };
  if (auto e = choice(r.vmm, {"qemu", "local"}, "--vmm", o.vmm); !e.empty()) return e;
  if (auto e = choice(r.accel, {"auto", "kvm", "tcg"}, "--accel", o.accel); !e.empty()) return e;
  if (auto e = choice(r.transport, {"auto", "vsock", "virtio-serial"}, "--transport", o.transport);
      !e.empty())
    return e;
  return {};
}

}  // namespace

ParseResult parse(int argc, char** argv) {
  ParseResult res;
  Options& o = res.options;
  Raw raw;
  CLI::App app{"Provium: integration tests against real virtual machines, driven from Lua.",
               "provium"};
  app.footer(
      "Exit codes: 0 every file passed (or skipped); 1 some file failed, timed out or crashed;\n"
      "2 internal error (arguments, provium.toml, preflight, profile build).");
  app.set_version_flag("--version", fmt::format("provium {}", PROVIUM_VERSION));
  app.fallthrough();
  app.require_subcommand(0, 1);

  app.add_option("paths", o.paths,
                 "Directories or *.test.lua files (default: [provium] roots, else cwd)");
  auto* cfg =
      app.add_option("--config", o.config, "Config file location")->default_str("provium.toml");
  app.add_option("--filter", o.filter,
                 "Only run files whose test-root-relative path contains this substring");
  app.add_flag("--include-slow", o.include_slow, "Include meta.slow tests (default skips them)");
  app.add_option("--tag", o.tags, "Run only tests with one of these tags (repeatable, OR'd)")
      ->allow_extra_args(false);
  app.add_option("--no-tag", o.no_tags,
                 "Skip tests with any of these tags (repeatable; wins over --tag)")
      ->allow_extra_args(false);
  app.add_option("--tag-meta", raw.tag_meta,
                 "Run only tests where meta[KEY] contains VALUE (KEY=VALUE, repeatable)")
      ->allow_extra_args(false);
  app.add_option("--no-tag-meta", raw.no_tag_meta,
                 "Skip tests where meta[KEY] contains VALUE (KEY=VALUE, repeatable)")
      ->allow_extra_args(false);
  app.add_flag("--rerun-failed", o.rerun_failed, "Run only files that failed in the last run");
  app.add_option("--since", o.since,
                 "Run only files whose mtime is newer than this reference file");
  app.add_flag("--watch", o.watch, "Re-run on file change (poll every 500 ms)");
  app.add_option("--partition", raw.partition,
                 "Run one CI shard, by file: hash:K/N or slice:K/N (K/N from CI_NODE_INDEX/"
                 "CI_NODE_TOTAL or BUILDKITE_PARALLEL_JOB/_COUNT when only the mode is given)");

  app.add_option("--vmm", raw.vmm, "VMM backend: qemu or local")->default_str("qemu");
  app.add_option("--accel", raw.accel, "Accelerator: auto, kvm or tcg")->default_str("auto");
  app.add_option("--transport", raw.transport, "Agent transport: auto, vsock or virtio-serial")
      ->default_str("auto");
  app.add_option("--mem", raw.mem, "Pool memory budget (size, e.g. 4G; default 80% of host RAM)");
  app.add_option("--cpus", raw.cpus, "Pool vCPU budget (default: online CPUs)");
  app.add_option("--cpu-overcommit", raw.overcommit, "Multiplier on --cpus, clamped to [0.5, 8.0]")
      ->default_str("1.0");
  app.add_flag("--no-preflight", o.no_preflight,
               "Skip the startup /dev/kvm / iproute2 / nft / qemu checks");
  app.add_flag("--no-ksm", o.no_ksm, "Skip Kernel Same-page Merging tuning at startup");
  app.add_flag("--no-build", o.no_build, "Skip profile build commands");

  app.add_option("--timeout", raw.timeout,
                 "Per-file timeout: seconds or 500ms/30s/10m/2h; 0 disables")
      ->default_str("300");
  app.add_flag("--fail-fast", o.fail_fast, "Stop dispatching after the first failed file");

  auto* verbose = app.add_flag("-v,--verbose", o.verbose, "Show passing and skipped tests too");
  auto* quiet = app.add_flag("-q,--quiet", o.quiet, "Show only failures and the summary");
  verbose->excludes(quiet);
  auto* json = app.add_flag("--json", o.json, "Line-delimited JSON output, one object per file");
  app.add_flag("--no-progress", o.no_progress, "No live progress line on a terminal");
  app.add_option("--junit", o.junit, "Also write JUnit XML to this path");

  app.add_option("--save-events", o.save_events,
                 "Persist the event stream to PATH (length-prefixed msgpack)");
  auto* ev_stdout =
      app.add_flag("--events-stdout", o.events_stdout, "Emit msgpack event frames on stdout");
  json->excludes(ev_stdout);
  app.add_option("--events-socket", o.events_socket,
                 "Fan the event stream out over a Unix socket at PATH");
  app.add_flag("--coverage", o.coverage,
               "Pipe the event stream into provium-coverage after the run");
  app.add_option("--worker-fd", o.worker_fd, "internal: run as a local-backend worker")->group("");

  auto* prepare = app.add_subcommand("prepare", "Run profile build commands without booting");
  prepare->add_option("profile", o.profile, "Profile name (default: every profile with a build)");

  auto* repl = app.add_subcommand("repl", "Boot a VM and open an interactive Lua REPL against it");
  repl->add_option("profile", o.profile,
                   "Profile name from provium.toml (optional with --fixture)");
  repl->add_option("--name", o.repl_name, "VM name")->default_str("repl");
  repl->add_option("--fixture", o.fixture_path, "Resume from a fixture instead of cold-booting");

  auto* console =
      app.add_subcommand("console", "Boot a profile with the serial console on this terminal");
  console->add_option("profile", o.profile, "Profile name")->required();
  console->add_option("--mem", raw.console_mem, "Guest memory")->default_str("512M");
  console->add_option("--cpus", raw.console_cpus, "Guest vCPUs")->default_str("1");
  console->add_option("--cmdline", o.console_cmdline, "Replace the kernel command line");
  console->add_flag("--agent", o.console_agent, "Inject the agent overlay and transport");
  console->add_option("--qemu", o.console_qemu, "QEMU binary");
  console->add_flag("--print-command", o.console_print_command, "Print the QEMU command and exit");
  console->add_option("qemu_args", o.console_qemu_args, "Arguments after -- are passed to QEMU");
  console->fallthrough(false);

  auto* fixture = app.add_subcommand("fixture", "Fixture cache management");
  fixture->require_subcommand(1);
  fixture->add_subcommand("list", "Show every cached entry with size and key");
  fixture
      ->add_subcommand("build", "Build a fixture (test-root-relative path, no .fixture.lua suffix)")
      ->add_option("path", o.fixture_path, "Fixture path")
      ->required();
  fixture->add_subcommand("rebuild", "Evict the cached entry and rebuild")
      ->add_option("path", o.fixture_path, "Fixture path")
      ->required();
  fixture->add_subcommand("clean", "Wipe the entire cache directory");
  fixture->add_subcommand("stale", "List fixtures whose current key has no cached entry");
  auto* fexport = fixture->add_subcommand(
      "export", "Write cached entries (all, or those of the named fixtures) to one archive");
  fexport->add_option("path", o.fixture_archive, "Archive to write (a .tar file)")->required();
  fexport->add_option("fixtures", o.fixture_names, "Fixture names (default: every entry)");
  fixture
      ->add_subcommand("import", "Verify an archive from `fixture export` and install its entries")
      ->add_option("path", o.fixture_archive, "Archive to read")
      ->required();

  auto* list = app.add_subcommand(
      "list", "List discovered tests (default) or fixtures without running anything");
  list->add_option("paths", o.paths, "Directories or *.test.lua files");
  list->add_flag("--fixtures", o.list_fixtures, "List fixtures instead of test files");
  list->add_flag("--tests", o.list_tests, "Each file followed by its tests and their meta");
  list->add_flag("--json", o.list_json, "One JSON object per file");
  list->footer(
      "Exit codes: 0 every file loaded; 1 some file failed to load (unreadable, a syntax error,\n"
      "or with --tests/--json an error in its file scope, shown as chunk_error), every file\n"
      "is still listed; 2 internal error (arguments, provium.toml, a missing or unreadable path).");

  auto* lsp = app.add_subcommand("lsp-setup", "Write Lua Language Server definitions into DIR");
  lsp->add_option("dir", o.lsp_dir, "Directory (default: current directory)");
  lsp->add_flag("--force", o.lsp_force, "Replace an existing .luarc.json");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    // Help for the subcommand that was asked about.
    std::string text;
    const CLI::App* target = &app;
    for (auto* sub : app.get_subcommands()) {
      target = sub;
      for (auto* subsub : sub->get_subcommands()) target = subsub;
    }
    res.output = target->help();
    res.exit_code = 0;
    return res;
  } catch (const CLI::CallForVersion& e) {
    res.output = e.what() + std::string("\n");
    res.exit_code = 0;
    return res;
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    if (auto nl = msg.find('\n'); nl != std::string::npos) msg = msg.substr(0, nl);
    res.error = fmt::format("provium: {} (see provium --help)", msg);
    res.exit_code = 2;
    return res;
  }
  o.config_explicit = cfg->count() > 0;

  if (prepare->parsed())
    o.command = Command::Prepare;
  else if (repl->parsed())
    o.command = Command::Repl;
  else if (console->parsed())
    o.command = Command::Console;
  else if (list->parsed())
    o.command = Command::List;
  else if (lsp->parsed())
    o.command = Command::LspSetup;
  else if (fixture->parsed()) {
    auto sub = fixture->get_subcommands().front()->get_name();
    o.command = sub == "list"      ? Command::FixtureList
                : sub == "build"   ? Command::FixtureBuild
                : sub == "rebuild" ? Command::FixtureRebuild
                : sub == "clean"   ? Command::FixtureClean
                : sub == "export"  ? Command::FixtureExport
                : sub == "import"  ? Command::FixtureImport
                                   : Command::FixtureStale;
  }
  if (auto err = check_values(o, raw); !err.empty()) {
    res.error = "provium: " + err;
    res.exit_code = 2;
    return res;
  }
  return res;
}

}  // namespace provium::cli
