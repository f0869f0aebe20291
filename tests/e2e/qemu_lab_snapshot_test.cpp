// Lab snapshots of VMs (no networks yet): one directory with lab.json and a file per VM,
// restored additively under another lab (sub-labs included); a name clash is refused.
#include <gtest/gtest.h>

#include "qemu_support.hpp"

using namespace provium::e2e;

TEST(QemuLab, SnapshotAndRestoreALabOfVms) {
  Project p;
  p.write("provium.toml", linux_profile_toml());
  p.write("lab.test.lua", R"lua(
local cluster = provium:lab("cluster")
local a = cluster:vm("a", "linux", {memory = "256M"})
local b = cluster:lab("grp"):vm("b", "linux", {memory = "256M"})
cluster:boot(); cluster.grp:boot()
test("lab snapshot and restore", function(t)
  a:write_file("/tmp/who", "a"); b:write_file("/tmp/who", "b")
  local snap = cluster:snapshot()
  t:assert(snap:size() > 0)
  t:assert_eq(a:state(), "booted")
  t:assert_contains(t:assert_raises(function() cluster:restore(snap) end), "already exists")
  local copy = provium:lab("copy")
  copy:restore(snap)
  t:assert_eq(copy:vm("a"):read_file("/tmp/who"), "a")
  t:assert_eq(copy.grp:vm("b"):read_file("/tmp/who"), "b")
  local f = io.open(snap:path() .. "/lab.json"); local j = json.decode(f:read("a")); f:close()
  t:assert_eq(j.format_version, 1)
  t:assert_eq(j.vms[2].snapshot_path, "grp~b.snap")
  snap:delete()
  t:assert_eq(snap:size(), 0)
end)
)lua");
  auto r = run_qemu(p, {"-v", "."});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("1 passed, 0 failed"), std::string::npos) << r.out << r.err;
}
