// Subcommands other than suite mode.
#pragma once

#include <optional>
#include <string>

#include "cli/options.hpp"
#include "config/config.hpp"

namespace provium::cli {

int run_prepare(const Options& o);
int run_list(const Options& o);
int run_fixture_clean(const Options& o);
/// fixture list | build | rebuild | stale | export | import (fixture_command.cpp).
int run_fixture_command(const Options& o);
int run_lsp_setup(const Options& o);  // lsp_setup.cpp
int run_repl(const Options& o);       // repl.cpp
int run_console(const Options& o);    // console_command.cpp
/// provium.toml, or nullopt after printing the one-line error.
std::optional<config::Config> load_config_or_report(const Options& o);
/// The named profile, or nullptr after printing `provium <command>: profile `X` not found`.
const config::Profile* find_profile_or_report(const config::Config& cfg, const std::string& name,
                                              const char* command);
/// Subcommands whose subsystem (VM backends, fixtures, LSP stubs) is not built yet.
int run_unavailable(const Options& o);

/// Entry point: parses argv, dispatches, returns the exit code.
int main_entry(int argc, char** argv);

}  // namespace provium::cli
