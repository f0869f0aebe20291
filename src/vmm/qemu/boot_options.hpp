// The per-boot options of REFERENCE §5.2 that QEMU acts on, read from the merged creation +
// boot option map with one clear error per bad value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "events/meta_value.hpp"
#include "vmm/qemu/initrd.hpp"

namespace provium::vmm::qemu {

struct BootOptions {
  std::optional<std::string> kernel_cmdline, kernel_cmdline_append;
  std::optional<std::int64_t> initial_time;
  std::optional<std::uint64_t> rng_seed;
  std::vector<BootFile> files;
  std::vector<config::DiskSpec> disks;  // boot disks, ids boot<N> unless given
};

/// Throws std::runtime_error("<key>: <what is wrong>") on a bad value.
BootOptions read_boot_options(const events::MetaMap& opts);

}  // namespace provium::vmm::qemu
