// Helpers shared by the end-to-end tests on top of harness.hpp: running a suite, reading the
// `--json` report (one object per file and line), and describing a run in failure messages.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "harness.hpp"

namespace provium::e2e {

using json = nlohmann::json;
using Env = std::map<std::string, std::optional<std::string>>;

/// Runs `provium args... --no-preflight --no-ksm` (suite runs skip the host checks and KSM so
/// they behave the same on every machine) with a 30 s limit.
RunOutput suite(const Project& p, std::vector<std::string> args, const Env& env = {},
                const std::optional<fs::path>& cwd = std::nullopt);

/// Writes a test file holding one test, "ok", that passes.
void write_passing(const Project& p, const std::string& rel = "tests/ok.test.lua");

bool contains(const std::string& hay, const std::string& needle);
bool ends_with(const std::string& s, const std::string& suffix);

/// The lines of `s`, without their '\n'.
std::vector<std::string> lines_of(const std::string& s);

/// The JSON objects of a `--json` stdout: every line starting with '{', parsed (a line that is
/// not valid JSON becomes a discarded value).
std::vector<json> json_lines(const std::string& out);

/// The paths of the file objects of a `--json` run.
std::set<std::string> paths_run(const RunOutput& r);

/// The JSON object of the file whose path is `name` or ends with "/" + `name`, or null.
json file_of(const RunOutput& r, const std::string& name);

/// The test called `name` in a file object, or null.
json test_of(const json& file, const std::string& name);

/// The test's message, or "<none>" when it has none.
std::string message(const json& t);

/// Exit status and both streams of a run, for failure messages.
std::string dump(const RunOutput& r);

/// The run exited 0 and every test of `file` (there is at least one) passed.
void expect_all_passed(const RunOutput& r, const std::string& file);

}  // namespace provium::e2e
