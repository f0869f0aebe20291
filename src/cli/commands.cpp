#include "cli/commands.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/suite_command.hpp"
#include "config/build.hpp"
#include "config/config.hpp"
#include "runner/discovery.hpp"
#include "runner/lister.hpp"
#include "util/text.hpp"

namespace provium::cli {
namespace {

namespace fs = std::filesystem;

}  // namespace

std::optional<config::Config> load_config_or_report(const Options& o) {
  try {
    return config::load(o.config, o.config_explicit);
  } catch (const config::ConfigError& e) {
    fmt::print(stderr, "provium: {}\n", e.what());
    return std::nullopt;
  }
}

const config::Profile* find_profile_or_report(const config::Config& cfg, const std::string& name,
                                              const char* command) {
  auto it = cfg.profiles.find(name);
  if (it != cfg.profiles.end()) return &it->second;
  fmt::print(stderr, "provium {}: profile `{}` not found in provium.toml\n", command, name);
  return nullptr;
}

int run_prepare(const Options& o) {
  auto cfg = load_config_or_report(o);
  if (!cfg) return 2;
  if (o.profile) {
    auto* profile = find_profile_or_report(*cfg, *o.profile, "prepare");
    if (!profile) return 2;
    if (auto err = config::run_build(*profile)) {
      fmt::print(stderr, "{}\n", *err);
      return 2;
    }
    return 0;
  }
  if (auto err = config::run_all_builds(*cfg)) {
    fmt::print(stderr, "{}\n", *err);
    return 2;
  }
  return 0;
}

// `list` exits 2 for problems finding the files, else 1 when a file failed to load, else 0.
static int list_exit_code(const runner::Discovery& d, bool some_file_failed) {
  if (!d.problems.empty()) return 2;
  return some_file_failed ? 1 : 0;
}

static int run_list_tests(const Options& o, const config::Config& cfg, const runner::Discovery& d) {
  std::vector<std::string> roots;
  for (auto& r : d.roots) roots.push_back(r.string());
  bool failed = false;
  for (auto& f : d.files) {
    auto listed = runner::list_file(f, cfg, roots);
    if (listed.chunk_error) failed = true;
    if (o.list_json) {
      nlohmann::ordered_json j;
      j["path"] = f.display;
      if (o.partition) j["partition"] = o.partition->to_string();  // the shard it belongs to
      j["chunk_error"] = listed.chunk_error ? nlohmann::ordered_json(*listed.chunk_error) : nullptr;
      j["tests"] = nlohmann::ordered_json::array();
      for (auto& t : listed.tests) {
        nlohmann::ordered_json tj;
        tj["name"] = t.name;
        tj["meta"] = events::to_json(t.meta);
        j["tests"].push_back(std::move(tj));
      }
      fmt::print("{}\n", j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
    } else {
      fmt::print("{}\n", f.display);
      if (listed.chunk_error)
        for (auto& l : util::split_lines(*listed.chunk_error))
          fmt::print("    chunk_error: {}\n", l);
      for (auto& t : listed.tests)
        fmt::print(
            "    {} {}\n", t.name,
            events::to_json(t.meta).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
    std::fflush(stdout);
  }
  return list_exit_code(d, failed);
}

int run_list(const Options& o) {
  auto cfg = load_config_or_report(o);
  if (!cfg) return 2;
  auto d = runner::discover(o.paths, cfg->roots, o.list_fixtures ? ".fixture.lua" : ".test.lua");
  for (auto& p : d.problems) fmt::print(stderr, "provium: {}\n", p);
  if (o.filter) runner::apply_filter(d.files, *o.filter);
  if (o.partition && !o.list_fixtures) runner::apply_partition(d.files, *o.partition);
  if ((o.list_tests || o.list_json) && !o.list_fixtures) return run_list_tests(o, *cfg, d);
  // The plain listing does not evaluate files, but a file that cannot even be compiled
  // is reported (stderr, so stdout stays one path per line for xargs) and fails the listing.
  bool failed = false;
  for (auto& f : d.files) {
    if (auto err = runner::check_syntax(f)) {
      failed = true;
      for (auto& l : util::split_lines(*err)) fmt::print(stderr, "provium: {}\n", l);
    }
    if (o.list_fixtures) {
      // Fixture names are root-relative without the suffix, as vm_fixture() takes them.
      std::string name =
          f.root_rel.substr(0, f.root_rel.size() - std::string(".fixture.lua").size());
      fmt::print("{}\n", name);
    } else {
      fmt::print("{}\n", f.display);
    }
  }
  return list_exit_code(d, failed);
}

int run_fixture_clean(const Options& o) {
  auto cfg = load_config_or_report(o);
  if (!cfg) return 2;
  fs::path dir = cfg->effective_cache_dir();
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fmt::print("fixture cache `{}` is already empty\n", dir.string());
    return 0;
  }
  auto n = fs::remove_all(dir, ec);
  if (ec) {
    fmt::print(stderr, "provium fixture clean: cannot remove `{}`: {}\n", dir.string(),
               ec.message());
    return 2;
  }
  fmt::print("removed fixture cache `{}` ({} file(s))\n", dir.string(), n);
  return 0;
}

int run_unavailable(const Options& o) {
  const char* what = "this subcommand";
  switch (o.command) {
    case Command::Repl:
      what = "provium repl (needs a VMM backend)";
      break;
    case Command::Console:
      what = "provium console (needs the QEMU backend)";
      break;
    case Command::List:
      what = "provium list --tests/--json (needs the inert listing mode)";
      break;
    case Command::LspSetup:
      what = "provium lsp-setup";
      break;
    default:
      break;
  }
  fmt::print(stderr, "provium: {} is not available in this build yet\n", what);
  return 2;
}

int main_entry(int argc, char** argv) {
  auto parsed = parse(argc, argv);
  if (parsed.exit_code >= 0) {
    if (!parsed.output.empty()) fmt::print("{}", parsed.output);
    if (!parsed.error.empty()) fmt::print(stderr, "{}\n", parsed.error);
    return parsed.exit_code;
  }
  const Options& o = parsed.options;
  // The original passed filters to runners through this variable; ours keeps them in-process
  // and makes sure no child (build hooks, io.popen) inherits a stale one.
  ::unsetenv("PROVIUM_TEST_FILTER");
  switch (o.command) {
    case Command::Suite:
      return run_suite_command(o);
    case Command::Prepare:
      return run_prepare(o);
    case Command::List:
      return run_list(o);
    case Command::FixtureClean:
      return run_fixture_clean(o);
    case Command::FixtureList:
    case Command::FixtureBuild:
    case Command::FixtureRebuild:
    case Command::FixtureStale:
    case Command::FixtureExport:
    case Command::FixtureImport:
      return run_fixture_command(o);
    case Command::LspSetup:
      return run_lsp_setup(o);
    case Command::Repl:
      return run_repl(o);
    case Command::Console:
      return run_console(o);
    default:
      return run_unavailable(o);
  }
}

}  // namespace provium::cli
