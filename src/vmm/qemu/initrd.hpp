// The initramfs a guest boots with (REFERENCE §7.4): the profile's initrd, then the agent
// overlay, then boot `files`, as byte-concatenated cpio segments (the kernel unpacks each in
// turn; later entries win). Merges are cached by the SHA-256 of their inputs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace provium::vmm::qemu {

/// Where the agent overlay is, after the documented search order; throws std::runtime_error
/// listing every place tried when it is nowhere.
std::string find_agent_overlay(const std::optional<std::filesystem::path>& profile_overlay);

/// The initrd + overlay concatenation, cached under `cache_dir`; with no initrd the overlay
/// alone. Returns the path to boot with.
std::string merged_initrd(const std::optional<std::filesystem::path>& initrd,
                          const std::string& overlay, const std::filesystem::path& cache_dir);

struct BootFile {
  std::string path;  // absolute guest path
  std::string content;
  std::uint32_t mode = 0644;
};

/// Writes `base` + a newc segment holding `files` (parent directories 0755) to `out`.
void append_files_segment(const std::string& base, const std::vector<BootFile>& files,
                          const std::string& out);

}  // namespace provium::vmm::qemu
