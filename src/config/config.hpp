// provium.toml: the [provium] table and the boot profiles (REFERENCE §3).
//
// Loading reads, parses, collects inline and `from_dir` profiles, validates and expands `{out}`
// once; the result is shared read-only by every runner. Kernel and image paths are checked at
// boot, not here, so a suite that never boots a profile is not blocked by its missing files; a
// kernel inside a profile's `root` tree is likewise located at boot (config/kernel.hpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace provium::config {

namespace fs = std::filesystem;

/// A provium.toml problem; `what()` is the full one-line message (exit 2).
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct DiskSpec {
  std::string id;
  std::optional<fs::path> path;          // raw image, must exist at boot
  std::optional<std::uint64_t> scratch;  // or: blank sparse file of this size
  bool readonly = false;
  bool mediated = false;
  bool persist = false;  // a writable `path` image is written through (else a per-VM overlay)
};

struct Profile {
  std::string name;
  fs::path kernel;               // empty when not set: resolve_kernel() looks under `root`
  std::optional<fs::path> root;  // a composed root tree (usually `{out}/root`); see kernel.hpp
  std::optional<fs::path> initrd;
  std::string cmdline;
  std::optional<fs::path> cmdline_file;
  std::string guest_os = "linux";
  bool inject_agent = true;
  std::optional<fs::path> agent_overlay_path;
  std::optional<double> agent_boot_timeout;  // seconds; nil = backend default
  std::optional<std::string> build;          // shell command, `{out}` already expanded
  fs::path build_out;                        // absolute
  std::vector<DiskSpec> disks;
  fs::path base_dir;    // cwd for inline profiles, the profile directory for discovered ones
  fs::path defined_in;  // the file that defined it, for messages
};

struct Config {
  fs::path path;  // the config file (may not exist: defaults)
  bool file_exists = false;
  std::vector<fs::path> roots;  // absolute
  std::optional<fs::path> cache_dir;
  std::uint64_t cache_max_size = 20ull << 30;
  std::map<std::string, Profile> profiles;  // sorted by name: "first profile" is begin()

  /// Fixture cache directory after the documented fallbacks (§3.2).
  fs::path effective_cache_dir() const;
  /// Every file whose change means the configuration changed (for --watch).
  std::vector<fs::path> watched_files() const;
  std::vector<fs::path> profile_files;  // profile.provium.toml files that were read
};

/// Loads `path`. When `explicit_path` is false and the file does not exist, returns defaults.
/// Throws ConfigError with `read|parse|invalid config in` messages (§3.1).
Config load(const fs::path& path, bool explicit_path);

/// Parses TOML text as if read from `path` (used by tests and by load()).
Config parse(const std::string& text, const fs::path& path, const fs::path& cwd);

}  // namespace provium::config
