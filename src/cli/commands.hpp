// Subcommands other than suite mode.
#pragma once

#include "cli/options.hpp"

namespace provium::cli {

int run_prepare(const Options& o);
int run_list(const Options& o);
int run_fixture_clean(const Options& o);
int run_lsp_setup(const Options& o);  // lsp_setup.cpp
int run_repl(const Options& o);       // repl.cpp
int run_console(const Options& o);    // console_command.cpp
/// Subcommands whose subsystem (VM backends, fixtures, LSP stubs) is not built yet.
int run_unavailable(const Options& o);

/// Entry point: parses argv, dispatches, returns the exit code.
int main_entry(int argc, char** argv);

}  // namespace provium::cli
