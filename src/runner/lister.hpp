// `provium list --tests/--json`: evaluates each file's top level in an inert listing mode to
// learn its tests and their meta. No test body runs, no VM boots, no build runs, and host
// commands (io.popen, os.execute) are not executed; a file-scope error is reported per file.
// The plain listing only compiles each file (check_syntax), so it catches syntax errors alone.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "events/meta_value.hpp"
#include "runner/discovery.hpp"

namespace provium::runner {

struct ListedTest {
  std::string name;
  events::MetaMap meta;
};

struct ListedFile {
  TestFile file;
  std::optional<std::string> chunk_error;
  std::vector<ListedTest> tests;
};

ListedFile list_file(const TestFile& file, const config::Config& cfg,
                     const std::vector<std::string>& roots);

/// Compiles `file` without running any of it: the read or syntax error that keeps it from
/// loading (as the runner would report it), or nullopt. The plain listing checks files with it.
std::optional<std::string> check_syntax(const TestFile& file);

}  // namespace provium::runner
