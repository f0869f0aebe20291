// The QEMU backend end to end: the default `linux` guest boots under QEMU (TCG here) and every
// guest operation of the agent works through virtio-serial.
#include <gtest/gtest.h>

#include "qemu_support.hpp"

using namespace provium::e2e;

TEST(QemuGuest, EveryGuestOperation) {
  Project p;
  p.write("provium.toml", linux_profile_toml());
  p.write("ops.test.lua", R"lua(
local vm = provium:vm("g", "linux", {memory = "256M"})
vm:boot({files = {{path = "/etc/provium-e2e/hello.txt", content = "from boot files\n", mode = 0x1a4}},
         kernel_cmdline_append = "provium.e2e=1", disks = {{scratch = 8388608, id = "data"}}})

test("boot options reached the guest", function(t)
  t:assert_eq(vm:read_file("/etc/provium-e2e/hello.txt"), "from boot files\n")
  t:assert_contains(vm:read_file("/proc/cmdline"), "provium.e2e=1")
  t:assert_contains(vm:read_file("/proc/cmdline"), "provium.transport=virtio-serial")
  t:assert_eq(vm:stat("/etc/provium-e2e/hello.txt").perm, 0x1a4)
  -- the scratch disk is a virtio-blk device of 8 MiB (16384 sectors), writable
  t:assert_eq(vm:read_file("/sys/block/vda/size"), "16384\n")
  t:assert(vm:run("echo hello | dd of=/dev/vda bs=512 count=1 conv=sync 2>/dev/null"):ok())
  t:assert_eq(vm:run("head -c 5 /dev/vda").stdout, "hello")
  -- a restored VM gets its scratch disk again (blank: disk contents are not in snapshots)
  local s = vm:snapshot()
  vm:restore(s)
  s:delete()
  t:assert_eq(vm:read_file("/sys/block/vda/size"), "16384\n")
  t:assert_eq(vm:read_file("/etc/provium-e2e/hello.txt"), "from boot files\n")
end)

test("run forms", function(t)
  local r = vm:run("echo out; echo err >&2; exit 7")
  t:assert_eq(r.exit_code, 7)
  t:assert_eq(r.stdout, "out\n")
  t:assert_eq(r.stderr, "err\n")
  t:assert_eq(vm:run({"/bin/echo", "a b"}).stdout, "a b\n")
  t:assert_eq(vm:run("cat", {stdin = "piped"}).stdout, "piped")
  t:assert_eq(vm:run("echo $X", {env = {X = "y"}}).stdout, "y\n")
  t:assert_eq(vm:run("pwd", {cwd = "/proc"}).stdout, "/proc\n")
  local slow = vm:run("sleep 30", {timeout = "300ms"})
  t:assert_eq(slow.status, "timed_out")
  local sig = vm:run("kill -9 $$")
  t:assert_eq(sig.status, "signalled")
  local err = t:assert_raises(function() vm:run("/nonexistent/binary", {args = {}}) end)
  t:assert_contains(err, "No such file or directory")
end)

test("files and directories", function(t)
  vm:mkdir("/tmp/d/e", {parents = true})
  vm:write_file("/tmp/d/e/f", "12345")
  t:assert_eq(vm:stat("/tmp/d/e/f").size, 5)
  t:assert_eq(vm:stat("/tmp/d").entry_type, "directory")
  vm:rename("/tmp/d/e/f", "/tmp/d/e/g")
  local names = {}
  for _, e in ipairs(vm:listdir("/tmp/d/e")) do names[#names + 1] = e.name end
  t:assert_eq(table.concat(names, ","), "g")
  vm:unlink("/tmp/d/e/g")
  local err = t:assert_raises(function() vm:read_file("/tmp/d/e/g") end)
  t:assert_contains(err, "read_file: No such file or directory (errno 2)")
  local f = vm:open_file("/tmp/h", {write = true, create = true, read = true})
  f:write("hello world")
  f:seek(6)
  t:assert_eq(f:read(5), "world")
  f:close()
end)

test("streams and processes", function(t)
  vm:write_file("/tmp/log", "")
  local s = vm:tail_file("/tmp/log", {start = "beginning"})
  vm:run("echo line-one >> /tmp/log")
  t:assert_eq(s:read_until("\n"), "line-one\n")
  s:close()
  local p = vm:run_async("cat")
  p:stdin_write("echoed\n")
  local out = p:stdout_stream()
  t:assert_eq(out:read_until("\n"), "echoed\n")
  p:close_stdin()
  t:assert(p:wait():ok())
  -- two streaming processes while other operations complete
  local a = vm:run_async("for i in 1 2 3 4 5; do echo a$i; sleep 0.05; done")
  local b = vm:run_async("for i in 1 2 3 4 5; do echo b$i; sleep 0.05; done")
  local sa, sb = a:stdout_stream(), b:stdout_stream()
  t:assert_eq(vm:run("echo meanwhile").stdout, "meanwhile\n")
  sa:expect("a5")
  sb:expect("b5")
  t:assert(a:wait():ok() and b:wait():ok())
end)

test("clock", function(t)
  local c = vm:clock()
  c:set(2000000000)
  t:assert(math.abs(c:get() - 2000000000) < 5)
  c:advance(100)
  t:assert(c:get() >= 2000000100)
end)

test("lifecycle", function(t)
  vm:pause()
  t:assert_eq(vm:state(), "paused")
  local err = t:assert_raises(function() vm:run("true") end)
  t:assert_contains(err, "VM is paused; use resume()")
  vm:resume()
  t:assert(vm:run("true"):ok())
  t:assert_contains(tostring(vm), "state=booted")
end)
)lua");
  auto r = run_qemu(p, {"-v", "."});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("6 passed, 0 failed"), std::string::npos) << r.out << r.err;
}

TEST(QemuGuest, BootFailuresAreClearAndFailOnlyThatFile) {
  Project p;
  // `noagent`: the default image without the agent, whose init exits at once (a kernel panic).
  std::string image = std::string(PROVIUM_GUEST_CACHE) + "/linux";
  p.write("provium.toml", linux_profile_toml() + "\n[profiles.noagent]\nkernel = \"" + image +
                              "/kernel\"\ninitrd = \"" + image +
                              "/initrd.cpio\"\ninject_agent = false\n"
                              "cmdline = \"console=ttyS0 panic=-1 rdinit=/bin/false\"\n"
                              "\n[profiles.nokernel]\nkernel = \"/nonexistent/vmlinuz\"\n"
                              "cmdline = \"console=ttyS0\"\n");
  p.write("a_missing.test.lua", R"lua(
test("missing kernel", function(t)
  local err = t:assert_raises(function() provium:vm("m", "nokernel"):boot() end)
  t:assert_contains(err, "kernel `/nonexistent/vmlinuz`")
  t:assert_contains(err, "No such file or directory")
end)
test("memory beyond the host", function(t)
  -- The pool (80 % of the host by default) refuses it before QEMU is asked.
  local err = t:assert_raises(function() provium:vm("big", "linux", {memory = "64T"}):boot() end)
  t:assert_contains(err, "exceeds pool total")
end)
test("no agent: the console tail explains", function(t)
  local vm = provium:vm("noinit", "noagent", {memory = "256M"})
  local err = t:assert_raises(function() vm:boot({agent_timeout = 60}) end)
  t:assert_contains(err, "QEMU exited")
  t:assert_contains(err, "console (last 4 KiB)")
  t:assert_contains(err, "Attempted to kill init")
end)
)lua");
  p.write("b_panic.test.lua", R"lua(
local vm = provium:vm("p", "linux", {memory = "256M"})
vm:boot()
test("a guest that panics", function(t)
  pcall(function() vm:run("echo c > /proc/sysrq-trigger", {timeout = "20s"}) end)
  local err = t:assert_raises(function() vm:run("true") end)
  t:assert(err:find("dead") or err:find("agent"), err)
  -- once dead, every operation says so at once, with the guest's last console output
  err = t:assert_raises(function() vm:read_file("/etc/passwd") end)
  t:assert_contains(err, "VM is dead")
  t:assert_contains(err, "sysrq")
end)
)lua");
  auto r = run_qemu(p, {"-v", "."});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("PASS a_missing.test.lua (3 passed"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("PASS b_panic.test.lua (1 passed"), std::string::npos) << r.out << r.err;
}
