// Static scan of a Lua file for the fixtures it names (`vm_fixture("x")`, `lab_fixture("x")`
// with a literal argument). Used by --watch (a changed fixture re-runs its users) and by the
// `file_discovered` event.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace provium::runner {

/// Fixture names referenced with a string literal, in order of appearance, without duplicates.
std::vector<std::string> scan_fixture_refs(const std::string& lua_source);

struct DeclaredClaim {
  std::uint64_t memory_bytes = 0;
  std::uint32_t cpus = 0;
};

/// A literal file-scope `provium:claim{memory = "2G", cpus = 2}` (for `file_discovered`).
std::optional<DeclaredClaim> scan_declared_claim(const std::string& lua_source);

/// `<root>/<name>.fixture.lua` for the first root where it exists.
std::filesystem::path resolve_fixture(const std::string& name, const std::vector<std::filesystem::path>& roots);

}  // namespace provium::runner
