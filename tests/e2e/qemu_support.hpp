// Shared pieces of the QEMU end-to-end tests: a provium.toml whose `linux` profile is the
// repository's default guest, built once per build tree into PROVIUM_GUEST_CACHE.
#pragma once

#include <string>

#include "harness.hpp"

namespace provium::e2e {

inline std::string linux_profile_toml() {
  return std::string("[profiles.linux]\nbuild = \"sh '") + PROVIUM_SOURCE_DIR +
         "/guest/build-linux.sh' {out}\"\nkernel = \"{out}/kernel\"\ninitrd = "
         "\"{out}/initrd.cpio\"\n"
         "cmdline = \"quiet loglevel=3 panic=-1 cryptomgr.notests console=ttyS0\"\n";
}

// The QEMU suites boot up to four 1-vCPU guests at once to test labs, fixtures and restores; on a
// 2-core machine the default pool (--cpus = online CPUs) would refuse that as "exceeds pool
// total", so they declare the overcommit they need. Pool behaviour itself is tested with
// explicit flags (qemu_scheduler_test.cpp, scheduler_test.cpp).
inline RunOutput run_qemu(const Project& p, std::vector<std::string> args, int limit_s = 240) {
  args.insert(args.begin(), {"--cpu-overcommit", "4"});
  return p.run(args, {{"PROVIUM_BUILD_DIR", PROVIUM_GUEST_CACHE}}, std::chrono::seconds(limit_s));
}

}  // namespace provium::e2e
