// Suite mode: `provium [PATHS]... [FLAGS]`, REFERENCE §2.9 startup order, and --watch.
#pragma once

#include "cli/options.hpp"

namespace provium::cli {

/// Runs the suite (once, or repeatedly under --watch); returns the process exit code.
int run_suite_command(const Options& o);

}  // namespace provium::cli
