// Static scan of a Lua file for the fixtures it names (`vm_fixture("x")`, `lab_fixture("x")`
// with a literal argument). Used by --watch (a changed fixture re-runs its users) and by the
// `file_discovered` event.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace provium::runner {

/// Fixture names referenced with a string literal, in order of appearance, without duplicates.
std::vector<std::string> scan_fixture_refs(const std::string& lua_source);

/// `<root>/<name>.fixture.lua` for the first root where it exists.
std::filesystem::path resolve_fixture(const std::string& name, const std::vector<std::filesystem::path>& roots);

}  // namespace provium::runner
