// The QEMU backend's lifecycle end to end: snapshot and restore (files and running processes
// survive, later changes do not, the clock is resynced), the live-stream refusal, reset, the
// console (log, incremental expect, streams, typing), and corrupt snapshots.
#include <gtest/gtest.h>

#include "qemu_support.hpp"

using namespace provium::e2e;

TEST(QemuLifecycle, SnapshotRestoreResetConsole) {
  Project p;
  p.write("provium.toml", linux_profile_toml());
  p.write("life.test.lua", R"lua(
local vm = provium:vm("life", "linux", {memory = "256M"})
vm:boot()

test("snapshot and restore", function(t)
  vm:write_file("/tmp/before", "kept")
  local p = vm:run_async("sleep 1000")
  local pid = p:pid()
  local s = vm:snapshot()
  t:assert(s:size() > 0)
  t:assert_contains(tostring(s), "snapshot")
  t:assert_eq(vm:state(), "booted")
  vm:write_file("/tmp/after", "gone")
  vm:clock():set(1000000000)
  vm:restore(s)
  t:assert_eq(vm:state(), "booted")
  t:assert_eq(vm:read_file("/tmp/before"), "kept")
  t:assert_contains(t:assert_raises(function() vm:read_file("/tmp/after") end), "No such file")
  t:assert(vm:run("kill -0 " .. pid):ok(), "the process running at snapshot time survived")
  t:assert(math.abs(vm:clock():get() - os.time()) < 10, "clock resynced to the host")
  s:delete()
  t:assert_eq(s:size(), 0)
end)

test("a paused VM snapshots and stays paused", function(t)
  vm:pause()
  local s = vm:snapshot(os.getenv("TMPDIR") and (os.getenv("TMPDIR") .. "/paused.snap") or "/tmp/paused-e2e.snap")
  t:assert_eq(vm:state(), "paused")
  vm:resume()
  s:delete()
end)

test("memory the guest freed is not carried in a snapshot", function(t)
  -- 32 MiB of noise written to the initramfs and deleted: its pages are free but not zero.
  -- Before migrating, the agent zeroes free memory (zero_free_memory), so the snapshot holds
  -- only the memory in use (~17 MB for this guest); carried along, the noise would make it
  -- at least 49 MB, since random bytes do not compress.
  vm:run("head -c 33554432 /dev/urandom > /tmp/noise && rm /tmp/noise"):assert_ok()
  local s = vm:snapshot()
  t:assert(s:size() < 32 * 1000 * 1000, "snapshot of " .. s:size() .. " bytes carries freed memory")
  vm:restore(s)
  t:assert_eq(vm:run("echo alive").stdout, "alive\n")
  s:delete()
end)

test("live streams refuse a snapshot, naming each", function(t)
  local st = vm:tail_file("/tmp/before")
  local err = t:assert_raises(function() vm:snapshot() end)
  t:assert_contains(err, "live streams")
  t:assert_contains(err, "tail_file(\"/tmp/before\") at life.test.lua:")
  st:close()
end)

test("corrupt snapshots are refused clearly", function(t)
  local f = io.open("bad.snap", "wb"); f:write("not a snapshot"); f:close()
  local err = t:assert_raises(function() provium:vm("c1", "linux"):restore("bad.snap") end)
  t:assert_contains(err, "is not a provium snapshot")
  err = t:assert_raises(function() provium:vm("c2", "linux"):restore("missing.snap") end)
  t:assert_contains(err, "No such file or directory")
end)

test("console", function(t)
  local c = vm:console()
  local s = c:read()
  vm:run("echo hello-console > /dev/ttyS0")
  t:assert_eq(c:expect("hello-console", 20), "hello-console")
  t:assert_contains(s:read_until("hello-console"), "hello-console")
  s:close()
  vm:run("echo second > /dev/ttyS0")
  c:expect("second", 20)
  -- the cursor moved past the first match: it is not found again
  t:assert_contains(t:assert_raises(function() c:expect("hello-console", 0.3) end), "timed out")
  t:assert_contains(c:read_log(), "hello-console")
  vm:run_async("head -c 5 /dev/ttyS0 > /tmp/typed")
  vm:run("sleep 0.5")
  t:assert_eq(c:write("abcde\n"), 6)
  wait_until(function() return vm:run("cat /tmp/typed").stdout == "abcde" end, {timeout = "20s"})
  t:assert_contains(t:assert_raises(function() c:write("x", {timeout_ms = 5}) end), "not supported")
end)

test("reset reboots and reconnects", function(t)
  vm:write_file("/tmp/x", "1")
  vm:reset()
  t:assert_eq(vm:state(), "booted")
  t:assert(not pcall(vm.read_file, vm, "/tmp/x"), "tmpfs is fresh after a reboot")
  t:assert(vm:run("true"):ok())
end)

test("shutdown is final", function(t)
  vm:shutdown()
  t:assert_contains(t:assert_raises(function() vm:run("true") end), "VM is shutdown; create a new one")
  t:assert_contains(t:assert_raises(function() vm:boot() end), "VM is shutdown; create a new one")
end)

test("the ACPI power button powers the guest off", function(t)
  local other = provium:vm("button", "linux", {memory = "256M"})
  other:boot()
  other:power_button()
  t:assert_eq(other:state(), "shutdown")
end)
)lua");
  auto r = run_qemu(p, {"-v", "."});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("9 passed, 0 failed"), std::string::npos) << r.out << r.err;
}
