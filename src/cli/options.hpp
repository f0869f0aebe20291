// Everything the command line can say, after parsing and validation (seed CLI reference,
// REFERENCE §2). Parsing never exits: it returns a usage error the caller prints (exit 2).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "scheduler/partition.hpp"

namespace provium::cli {

enum class Command {
  Suite, Prepare, Repl, Console, FixtureList, FixtureBuild, FixtureRebuild, FixtureClean,
  FixtureStale, FixtureExport, FixtureImport, List, LspSetup
};

struct Options {
  Command command = Command::Suite;

  // Discovery and selection
  std::vector<std::string> paths;
  std::string config = "provium.toml";
  bool config_explicit = false;
  std::optional<std::string> filter;
  bool include_slow = false;
  std::vector<std::string> tags, no_tags;
  std::vector<std::pair<std::string, std::string>> tag_meta, no_tag_meta;
  bool rerun_failed = false;
  std::optional<std::string> since;
  bool watch = false;
  std::optional<scheduler::Partition> partition;  // --partition hash:K/N | slice:K/N

  // VMM and resources
  std::string vmm = "qemu";
  std::string accel = "auto";
  std::string transport = "auto";
  std::optional<std::uint64_t> mem;
  std::optional<std::uint32_t> cpus;
  double cpu_overcommit = 1.0;
  std::optional<std::string> overcommit_notice;  // set when the value was clamped
  bool no_preflight = false, no_ksm = false, no_build = false;

  // Lifecycle
  std::optional<std::chrono::milliseconds> timeout = std::chrono::seconds(300);  // nullopt: off
  bool fail_fast = false;

  // Output
  bool verbose = false, quiet = false, json = false, no_progress = false;
  std::optional<std::string> junit;

  // Observability
  std::optional<std::string> save_events, events_socket;
  bool events_stdout = false, coverage = false;
  std::optional<int> worker_fd;

  // Subcommands
  std::optional<std::string> profile;      // prepare, repl, console
  std::string repl_name = "repl";
  std::optional<std::string> fixture_path; // repl --fixture, fixture build/rebuild
  std::string fixture_archive;              // fixture export/import PATH
  std::vector<std::string> fixture_names;   // fixture export PATH [FIXTURE...]
  std::optional<std::uint64_t> console_mem;
  std::optional<std::uint32_t> console_cpus;
  std::optional<std::string> console_cmdline, console_qemu;
  bool console_agent = false, console_print_command = false;
  std::vector<std::string> console_qemu_args;
  bool list_fixtures = false, list_tests = false, list_json = false;
  std::string lsp_dir = ".";
  bool lsp_force = false;
};

struct ParseResult {
  Options options;
  int exit_code = -1;       // >= 0: stop now with this code (help, version, usage error)
  std::string output;       // help/version text for stdout
  std::string error;        // one-line usage error for stderr
};

ParseResult parse(int argc, char** argv);

}  // namespace provium::cli
