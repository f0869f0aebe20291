// The first end-to-end check: the examples suite passes through the real binary, run the way
// the README's first command runs it (from the repository, with its provium.toml, booting the
// default `linux` guest under QEMU).
#include <gtest/gtest.h>

#include "harness.hpp"

using namespace provium::e2e;

TEST(Examples, SuitePasses) {
  Project p;
  auto r = p.run({"examples/"}, {{"PROVIUM_BUILD_DIR", PROVIUM_GUEST_CACHE}}, std::chrono::seconds(300),
                 fs::path(PROVIUM_SOURCE_DIR));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(" failed, "), std::string::npos);
  EXPECT_NE(r.out.find("PASS examples/05-first-vm.test.lua"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("PASS examples/06-fixture.test.lua"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("PASS examples/07-network.test.lua"), std::string::npos) << r.out << r.err;
}
