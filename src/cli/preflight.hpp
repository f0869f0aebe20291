// Startup checks for the QEMU backend (REFERENCE §7.10): each failure prints one line with the
// fix and exits 2. Skipped by --no-preflight and for --vmm local. KVM and vsock absence only
// degrade (the warning is printed when the first VM boots).
#pragma once

#include <optional>
#include <string>

#include "cli/options.hpp"

namespace provium::cli {

/// nullopt when every check passed, else the message to print (exit code 2).
std::optional<std::string> preflight(const Options& o);

}  // namespace provium::cli
