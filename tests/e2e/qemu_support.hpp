// Shared pieces of the QEMU end-to-end tests: a provium.toml whose `linux` profile is the
// repository's default guest (read from its provium.toml), built once per build tree into
// PROVIUM_GUEST_CACHE.
#pragma once

#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include "harness.hpp"

namespace provium::e2e {

inline std::string linux_profile_toml() {
  // The repository's own [profiles.linux], so the tests boot the guest users get (one
  // definition of its kernel, initrd and cmdline); only the build script's path is made
  // absolute, since the tests run in scratch projects.
  std::ifstream in(std::string(PROVIUM_SOURCE_DIR) + "/provium.toml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto at = text.find("[profiles.linux]");
  if (at == std::string::npos)
    throw std::runtime_error("provium.toml of the repository has no [profiles.linux]");
  auto end = text.find("\n[", at);
  std::string section = text.substr(at, end == std::string::npos ? end : end - at + 1);
  const std::string script = "sh guest/build-linux.sh";
  auto s = section.find(script);
  if (s == std::string::npos)
    throw std::runtime_error("[profiles.linux] no longer builds with `" + script + "`");
  section.replace(s, script.size(),
                  std::string("sh '") + PROVIUM_SOURCE_DIR + "/guest/build-linux.sh'");
  return section;
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
