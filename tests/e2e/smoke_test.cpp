// The first end-to-end check: the examples suite passes through the real binary.
#include <gtest/gtest.h>

#include "harness.hpp"

using namespace provium::e2e;

TEST(Examples, SuitePasses) {
  Project p;
  auto r = p.run({std::string(PROVIUM_SOURCE_DIR) + "/examples"}, {}, std::chrono::seconds(60),
                 fs::path(PROVIUM_SOURCE_DIR) / "examples");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(" failed, "), std::string::npos);
}
