// Profile `build` hooks (REFERENCE §3.5): run `sh -c <build>` with inherited stdio.
#pragma once

#include <optional>
#include <string>

#include "config/config.hpp"

namespace provium::config {

/// Runs one profile's build command if it has one. Returns an error line
/// (`provium: profile `X`: build command failed (exit status: N)`) or nullopt on success.
std::optional<std::string> run_build(const Profile& profile);

/// Runs every profile build in name order, stopping at the first failure.
std::optional<std::string> run_all_builds(const Config& cfg);

}  // namespace provium::config
