// However provium ends, no QEMU process and no scratch directory is left behind: SIGKILL (the
// spawner's PR_SET_PDEATHSIG kills QEMU, the janitor removes the directories) and Ctrl-C.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "qemu_support.hpp"

using namespace provium::e2e;
using std::chrono::steady_clock;

namespace {

// Processes whose command line mentions `needle` (our scratch paths are unique per test).
int processes_mentioning(const std::string& needle) {
  int n = 0;
  for (auto& e : fs::directory_iterator("/proc")) {
    std::ifstream in(e.path() / "cmdline", std::ios::binary);
    std::string cmd((std::istreambuf_iterator<char>(in)), {});
    if (cmd.find(needle) != std::string::npos && cmd.find("qemu-system") != std::string::npos) ++n;
  }
  return n;
}

bool scratch_dirs_left(const fs::path& tmp) {
  std::error_code ec;
  for (auto& e : fs::directory_iterator(tmp / "provium-qemu", ec))
    if (e.path().filename().string().starts_with("vm-")) return true;
  return false;
}

void run_and_end_with(int sig) {
  Project p;
  p.write("provium.toml", linux_profile_toml());
  fs::create_directories(p.dir() / "tmp");
  p.write("hold.test.lua", R"lua(
local vm = provium:vm("held", "linux", {memory = "256M"})
vm:boot()
test("hold", function(t)
  io.open("booted", "w"):close()
  while true do vm:run("sleep 1") end
end)
)lua");
  fs::path tmp = p.dir() / "tmp";
  Background bg(p, {"--timeout", "0", "."},
                {{"PROVIUM_BUILD_DIR", PROVIUM_GUEST_CACHE}, {"TMPDIR", tmp.string()}});
  auto deadline = steady_clock::now() + std::chrono::seconds(180);
  while (!fs::exists(p.dir() / "booted") && steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(fs::exists(p.dir() / "booted")) << bg.out() << bg.err();
  ASSERT_EQ(processes_mentioning(tmp.string()), 1);
  ASSERT_TRUE(scratch_dirs_left(tmp));
  bg.signal(sig);
  bg.wait(std::chrono::seconds(30));
  deadline = steady_clock::now() + std::chrono::seconds(10);
  while ((processes_mentioning(tmp.string()) > 0 || scratch_dirs_left(tmp)) &&
         steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(processes_mentioning(tmp.string()), 0) << "QEMU outlived provium";
  EXPECT_FALSE(scratch_dirs_left(tmp)) << "a scratch directory outlived provium";
}

}  // namespace

TEST(QemuCleanup, SigkillLeavesNoQemuAndNoScratch) { run_and_end_with(SIGKILL); }

TEST(QemuCleanup, SigintLeavesNoQemuAndNoScratch) { run_and_end_with(SIGINT); }
