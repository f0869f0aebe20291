// `provium list --tests/--json`: evaluates each file's top level in an inert listing mode to
// learn its tests and their meta. No test body runs, no VM boots, no build runs, and host
// commands (io.popen, os.execute) are not executed; a file-scope error is reported per file.
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

}  // namespace provium::runner
