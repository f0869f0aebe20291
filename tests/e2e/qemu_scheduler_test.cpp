// The pool with real QEMU guests (REFERENCE §10): with a budget for two VMs, four files that
// each boot one VM run two at a time, and every file passes.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "events_test_util.hpp"
#include "qemu_support.hpp"

using namespace provium::e2e;
using namespace provium::e2e::obs;

namespace {

TEST(QemuScheduler, FourFilesNeedingOneVmEachRunTwoAtATimeInAPoolForTwo) {
  Project p;
  p.write("provium.toml", linux_profile_toml());
  for (int i = 1; i <= 4; ++i)
    p.write(fmt::format("f{}.test.lua", i), fmt::format(R"lua(test("boots one VM", function(t)
  local vm = provium:vm("v{}", "linux", {{memory = "256M"}})
  vm:boot()
  t:assert_eq(vm:run("echo ok").stdout, "ok\n")
  _provium_sleep(3) -- keep it alive: two files' VMs surely overlap, even on a loaded host
end)
)lua",
                                                        i));
  // Two VMs of 256 MiB cost 2 x 356 MiB; four file overheads 200 MiB: 912 MiB fits exactly
  // two VMs and all four files, so the pool (not the runner count) is what limits them.
  // Host pressure would pause dispatch on this busy 2-core machine (our own TCG guests raise
  // it), which is PSI's job but not what this test is about: it reads a calm host.
  p.write("psi/cpu", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
  p.write("psi/memory", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
  auto r = p.run({"--no-ksm", "--mem", "912M", "--cpus", "4", "--save-events", "ev.bin"},
                 {{"PROVIUM_BUILD_DIR", PROVIUM_GUEST_CACHE},
                  {"PROVIUM_PSI_ROOT", (p.dir() / "psi").string()}},
                 std::chrono::seconds(240));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto frames = decode_frames(p, "ev.bin");
  EXPECT_EQ(of_kind(frames, "file_dispatched").size(), 4u);
  int live = 0, peak = 0;
  for (auto& f : frames) {
    if (f["kind"] == "vm_spawned") peak = std::max(peak, ++live);
    if (f["kind"] == "vm_shutdown") --live;
  }
  EXPECT_EQ(of_kind(frames, "vm_spawned").size(), 4u);
  EXPECT_EQ(peak, 2) << "never more than the two VMs the pool has room for, and two at once";
  // pool_state never reports more in use than the pool holds.
  for (auto& f : of_kind(frames, "pool_state"))
    EXPECT_LE(f["payload"]["used"]["memory_bytes"].get<long long>(), 912LL << 20) << f.dump();
}

}  // namespace
