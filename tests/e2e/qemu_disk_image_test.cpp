// Images are never changed by a test (issue 18): a writable `path` disk is attached through a
// qcow2 overlay in the VM's scratch directory, so the host file is byte-identical after the
// run; `persist = true` writes through for a test that wants to produce an image.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "qemu_support.hpp"

using namespace provium::e2e;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST(QemuDiskImage, AWritableImageIsUnchangedUnlessPersisted) {
  Project p;
  p.write("provium.toml", linux_profile_toml());
  std::string original(1 << 20, 'o');
  p.write("kept.img", original);
  p.write("made.img", original);
  p.write("disk.test.lua", R"lua(
local vm = provium:vm("g", "linux", {memory = "256M"})
vm:boot({disks = {{path = "kept.img", id = "kept"}, {path = "made.img", id = "made", persist = true}}})

test("the guest writes both disks and reads its writes back", function(t)
  t:assert(vm:run("echo written | dd of=/dev/vda bs=512 count=1 conv=sync,fsync 2>/dev/null"):ok())
  t:assert(vm:run("echo written | dd of=/dev/vdb bs=512 count=1 conv=sync,fsync 2>/dev/null"):ok())
  t:assert_eq(vm:run("head -c 7 /dev/vda").stdout, "written")
  t:assert_eq(vm:run("head -c 7 /dev/vdb").stdout, "written")
end)
)lua");
  RunOutput r = run_qemu(p, {"."});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(slurp(p.dir() / "kept.img"), original) << "a test changed the user's image";
  std::string made = slurp(p.dir() / "made.img");
  ASSERT_EQ(made.size(), original.size());
  EXPECT_EQ(made.substr(0, 7), "written") << "persist = true writes through";
}
