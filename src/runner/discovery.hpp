// Discovery and file-level selection (filter precedence steps 1-4): walks the paths for
// `*.test.lua`, then applies --filter, --rerun-failed, --since and --partition.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "scheduler/partition.hpp"

namespace provium::runner {

namespace fs = std::filesystem;

struct TestFile {
  fs::path abs;           // absolute, lexically normal
  std::string display;    // path as discovered: relative to cwd when under it (reports, events)
  std::string root_rel;   // relative to its test root, forward slashes (--filter, names)
  fs::path root;          // the test root it was found under
};

struct Discovery {
  std::vector<TestFile> files;          // sorted by display path, byte order, no duplicates
  std::vector<std::string> problems;    // one line each: missing paths, unreadable dirs, ...
  std::vector<fs::path> roots;          // roots in order (for require and fixture lookup)
};

/// Walks `paths` (or `config_roots`, or cwd) recursively for `*.test.lua` files.
/// With `suffix` = ".fixture.lua" it finds fixtures instead.
Discovery discover(const std::vector<std::string>& paths, const std::vector<fs::path>& config_roots,
                   const std::string& suffix = ".test.lua");

/// Keeps files whose root-relative path contains `needle` (a plain substring).
void apply_filter(std::vector<TestFile>& files, const std::string& needle);

/// Keeps files whose mtime is strictly newer than `reference`'s. Returns an error line when
/// the reference cannot be read.
std::optional<std::string> apply_since(std::vector<TestFile>& files, const fs::path& reference);
/// Keeps the files of one CI shard (by root-relative path, whole files only).
void apply_partition(std::vector<TestFile>& files, const scheduler::Partition& p);

/// The rerun-state file: $PROVIUM_RERUN_STATE, ~/.cache/provium/rerun.json, /tmp/provium-rerun.json.
fs::path rerun_state_path();

/// Reads the failed set; nullopt when there is no state (missing file). Throws
/// std::runtime_error with a one-line message when the file exists but is unreadable or garbage.
std::optional<std::vector<std::string>> read_rerun_state(const fs::path& path);

/// Writes the failed set atomically (temp file + rename in the same directory).
void write_rerun_state(const fs::path& path, const std::vector<std::string>& failed_abs_paths);

/// Keeps files whose canonical path is in `failed`.
void apply_rerun(std::vector<TestFile>& files, const std::vector<std::string>& failed);

/// Path shown to people: relative to cwd when under it, else absolute.
std::string display_path(const fs::path& abs);

}  // namespace provium::runner
