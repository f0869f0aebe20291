// Shared pieces of the QEMU end-to-end tests: a provium.toml whose `linux` profile is the
// repository's default guest, built once per build tree into PROVIUM_GUEST_CACHE.
#pragma once

#include <string>

#include "harness.hpp"

namespace provium::e2e {

inline std::string linux_profile_toml() {
  return std::string("[profiles.linux]\nbuild = \"sh '") + PROVIUM_SOURCE_DIR +
         "/guest/build-linux.sh' {out}\"\nkernel = \"{out}/vmlinuz\"\ninitrd = "
         "\"{out}/initrd.cpio.gz\"\n"
         "cmdline = \"quiet loglevel=3 panic=-1 cryptomgr.notests console=ttyS0\"\n";
}

inline RunOutput run_qemu(const Project& p, std::vector<std::string> args, int limit_s = 240) {
  return p.run(args, {{"PROVIUM_BUILD_DIR", PROVIUM_GUEST_CACHE}}, std::chrono::seconds(limit_s));
}

}  // namespace provium::e2e
