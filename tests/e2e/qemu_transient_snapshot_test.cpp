// Transient means transient (issue 20): snapshots made without a path (VM and lab) are deleted
// when their object is collected or the file's run ends; one made with an explicit path is the
// user's and stays.
#include <gtest/gtest.h>

#include "qemu_support.hpp"

using namespace provium::e2e;

TEST(QemuTransientSnapshot, SnapshotsWithoutAPathLeaveNothingBehind) {
  Project p;
  p.write("provium.toml", linux_profile_toml());
  fs::create_directories(p.dir() / "tmp");
  std::string kept = (p.dir() / "kept.snap").string();
  p.write("snap.test.lua", R"lua(
local vm = provium:vm("g", "linux", {memory = "256M"})
vm:boot()
local held = vm:snapshot()          -- lives until the file ends
local lab_held = provium:snapshot() -- likewise, a directory

test("a collected snapshot's file is gone at once", function(t)
  local s = vm:snapshot()
  local path = s:path()
  t:assert(io.open(path, "rb") ~= nil, "the snapshot exists while referenced")
  s = nil
  collectgarbage(); collectgarbage()
  t:assert_eq(io.open(path, "rb"), nil)
  vm:restore(held)
  t:assert_eq(vm:run("echo ok").stdout, "ok\n")
  vm:snapshot(KEPT)
end)
)lua");
  std::string body = p.read("snap.test.lua");
  p.write("snap.test.lua", "KEPT = \"" + kept + "\"\n" + body);
  // The project's own TMPDIR: every transient file provium made lives there.
  RunOutput r =
      p.run({"--cpu-overcommit", "4", "."},
            {{"PROVIUM_BUILD_DIR", PROVIUM_GUEST_CACHE}, {"TMPDIR", (p.dir() / "tmp").string()}},
            std::chrono::seconds(300));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::vector<std::string> left;
  for (auto& e : fs::recursive_directory_iterator(p.dir() / "tmp")) {
    // Snapshot files and directories, and VM scratch directories, must all be gone (the
    // merged-initrd cache under provium-qemu is a cache and stays).
    std::string name = e.path().filename().string();
    if (name.starts_with("provium-snap") || name.starts_with("provium-labsnap") ||
        (name.starts_with("vm-") && e.path().parent_path().filename() == "provium-qemu"))
      left.push_back(e.path().string());
  }
  EXPECT_TRUE(left.empty()) << "left in TMPDIR: " << (left.empty() ? "" : left[0]);
  EXPECT_TRUE(fs::exists(kept)) << "a snapshot with an explicit path is the user's";
}
