// A profile with `root` and no `kernel`: the kernel is located inside the tree when a VM boots,
// so a missing or ambiguous tree is a boot error of the test, not a config error.
#include <gtest/gtest.h>

#include "json_support.hpp"

using namespace provium::e2e;

TEST(QemuRootProfile, BootWithoutTheTreeSaysWhereItLooked) {
  Project p;
  p.write("provium.toml", "[profiles.os]\nroot = \"tree\"\ncmdline = \"console=ttyS0\"\n");
  p.write("tests/boot.test.lua",
          "test(\"boots\", function(t)\n"
          "  provium:vm(\"b\", \"os\"):boot({disks = {{scratch = \"16M\"}}})\n"
          "end)\n");
  auto r = suite(p, {"tests"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "profile `os`: no kernel under root `" + (p.dir() / "tree").string() +
                                  "` (the directory does not exist; looked for "
                                  "usr/lib/modules/*/vmlinuz and boot/vmlinuz-*); set `kernel` or "
                                  "build the tree"))
      << r.out << r.err;

  p.write("tree/boot/vmlinuz-6.1", "k");
  p.write("tree/boot/vmlinuz-6.2", "k");
  r = suite(p, {"tests"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(
      contains(r.out, "profile `os`: several kernels under root `" + (p.dir() / "tree").string() +
                          "`: boot/vmlinuz-6.1, boot/vmlinuz-6.2; set `kernel` to one of them"))
      << r.out << r.err;
}
