// `--vmm local` is a sandbox (issue 15, REFERENCE §7.9): nothing a test does inside changes
// the host, and what a test legitimately does still works. Every probe of a host resource is
// harmless even if the sandbox were broken: the clock is set to its current value, a sysctl
// gets its current value back, devices and sysfs files are opened without writing.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "harness.hpp"

using namespace provium::e2e;
using nlohmann::json;

namespace {

const char* kConfig = "[profiles.host]\nkernel = \"/nonexistent\"\ncmdline = \"console=ttyS0\"\n";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs the project with --json and returns the single file object (every stdout line must be
// JSON: guest output must never reach provium's stdout).
json run_json(Project& p, RunOutput& r, std::vector<std::string> extra = {}) {
  // Three sandboxes at once: more vCPUs than this host may have, which a local VM does not use.
  std::vector<std::string> args = {"--vmm", "local", "--json", "--cpus", "8"};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back(".");
  r = p.run(args, {}, std::chrono::seconds(120));
  json file;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "stdout line is not JSON: " << line;
    if (j.is_object() && j.contains("tests")) file = j;
  }
  return file;
}

void expect_all_passed(const json& f, const RunOutput& r, std::size_t count) {
  ASSERT_TRUE(f.is_object()) << r.out << r.err;
  EXPECT_TRUE(f["chunk_error"].is_null()) << f.dump();
  EXPECT_EQ(f["tests"].size(), count) << f.dump();
  for (auto& t : f["tests"]) EXPECT_EQ(t["status"], "passed") << t.dump(2) << "\n" << r.err;
}

// Lua helpers shared by the probes: `errno_of(r)` of a vm:syscall result, `no(...)` asserting
// a syscall fails with one errno.
const char* kPrelude = R"lua(
local vm = provium:vm("box", "host")
vm:boot()
local EPERM, ENOENT, EACCES, EROFS, ESRCH = 1, 2, 13, 30, 3
local function no(t, what, want, nr, ...)
  local r = vm:syscall(nr, ...)
  t:assert_eq(r.ret, -1, what .. " must fail")
  t:assert_eq(r.errno, want, what .. ": errno")
end
local function sh(t, cmd)
  local r = vm:run(cmd)
  t:assert_eq(r.exit_code, 0, cmd .. "\n" .. r.stdout .. r.stderr)
  return r.stdout
end
local function open_errno(path, flags)
  local r = vm:syscall(257, {args = {-100, 0, flags, 0}, bufs = {path .. "\0"}, ptrs = {1}})
  if r.ret >= 0 then vm:syscall(3, r.ret) return 0 end
  return r.errno
end
)lua";

}  // namespace

TEST(LocalSandbox, NothingInsideChangesTheHost) {
  Project p;
  p.write("provium.toml", kConfig);
  std::string marker = fmt::format("/etc/provium-sandbox-{}", ::getpid());
  std::string mounts_before = slurp("/proc/self/mounts");
  std::string forward_before = slurp("/proc/sys/net/ipv4/ip_forward");
  char host_name[256] = {};
  ::gethostname(host_name, sizeof host_name - 1);
  p.write("a.test.lua", std::string(kPrelude) +
                            fmt::format(R"lua(
HOST_PID = {}
MARKER = "{}"
)lua",
                                        ::getpid(), marker) +
                            R"lua(
test("the clock: the API refuses, the kernel refuses", function(t)
  local c = vm:clock()
  t:assert(c:get() > 1.7e9)
  t:assert(c:get_ns() > 1700000000 * 1000000000)
  c:sleep("10ms")
  local want = "the local backend shares the host's clock; use --vmm qemu to change a guest clock"
  t:assert_contains(t:assert_raises(function() c:set(c:get()) end), ": clock:set: " .. want)
  t:assert_contains(t:assert_raises(function() c:set_ns(c:get_ns()) end), ": clock:set_ns: " .. want)
  t:assert_contains(t:assert_raises(function() c:advance(0) end), ": clock:advance: " .. want)
  -- The same through raw syscalls, each setting the time it just read.
  local ts = vm:syscall(228, {args = {0, 0}, bufs = {string.rep("\0", 16)}, ptrs = {1}})
  no(t, "clock_settime", EPERM, 227, {args = {0, 0}, bufs = {ts.out_bufs[1]}, ptrs = {1}})
  local tv = vm:syscall(96, {args = {0, 0}, bufs = {string.rep("\0", 16)}, ptrs = {0}})
  no(t, "settimeofday", EPERM, 164, {args = {0, 0}, bufs = {tv.out_bufs[1]}, ptrs = {0}})
  local tx = vm:syscall(159, {args = {0}, bufs = {string.rep("\0", 208)}, ptrs = {0}})
  t:assert(tx.ret >= 0, "adjtimex read works")
  local status_only = string.pack("<I4", 0x10) .. tx.out_bufs[1]:sub(5)  -- ADJ_STATUS, same status
  no(t, "adjtimex", EPERM, 159, {args = {0}, bufs = {status_only}, ptrs = {0}})
  no(t, "clock_adjtime", EPERM, 305, {args = {0, 0}, bufs = {status_only}, ptrs = {1}})
end)

test("sysctls, sysfs, sysrq and the kernel log are out of reach", function(t)
  local sw = vm:read_file("/proc/sys/vm/swappiness")
  t:assert_contains(t:assert_raises(function() vm:write_file("/proc/sys/vm/swappiness", sw) end),
                    "errno 30")
  t:assert_eq(open_errno("/proc/sys/kernel/hostname", 1), EROFS)
  t:assert_eq(open_errno("/sys/kernel/mm/ksm/run", 1), EROFS)
  t:assert_eq(open_errno("/sys/class/net/lo/mtu", 1), EROFS)
  local sysrq = open_errno("/proc/sysrq-trigger", 1)
  t:assert(sysrq == EROFS or sysrq == ENOENT, "sysrq-trigger: errno " .. sysrq)
  t:assert_eq(open_errno("/dev/kmsg", 1), ENOENT)
  no(t, "mknod /dev/kmsg", EPERM, 133, {args = {0, 0x2180, 267}, bufs = {"/tmp/kmsg\0"}, ptrs = {0}})
  no(t, "syslog", EPERM, 103, 10, 0, 0)
  -- The read-only mounts are locked: the sandbox's root cannot undo them.
  t:assert(vm:run("mount -o remount,rw /sys").exit_code ~= 0)
  t:assert(vm:run("mount -o remount,rw /proc/sys").exit_code ~= 0)
  t:assert(vm:run("umount /proc/sys").exit_code ~= 0)
  t:assert(vm:run("umount -l /sys").exit_code ~= 0, "/sys is locked")
end)

test("modules, keyrings, devices and swap are refused", function(t)
  no(t, "init_module", EPERM, 175, 0, 0, 0)
  no(t, "finit_module", EPERM, 313, -1, 0, 0)
  no(t, "delete_module", EPERM, 176, {args = {0, 0}, bufs = {"ext4\0"}, ptrs = {0}})
  no(t, "keyctl", EPERM, 250, 0, -4, 0)
  no(t, "add_key", EPERM, 248, 0, 0, 0, 0, 0)
  no(t, "swapon", EPERM, 167, {args = {0, 0}, bufs = {"/nonexistent\0"}, ptrs = {0}})
  no(t, "mknod of a block device", EPERM, 133,
     {args = {0, 0x6180, 2048}, bufs = {"/tmp/sda\0"}, ptrs = {0}})
  no(t, "mknod /dev/mem", EPERM, 133, {args = {0, 0x2180, 257}, bufs = {"/tmp/mem\0"}, ptrs = {0}})
  local devs = sh(t, "ls /dev | sort | tr '\\n' ' '")
  t:assert_eq(devs, "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero ")
  -- provium's own agent binary is bound read-only (opening it for writing is ETXTBSY anyway).
  no(t, "utimensat of the agent binary", EROFS, 280,
     {args = {-100, 0, 0, 0}, bufs = {"/run/provium-agent\0"}, ptrs = {1}})
  no(t, "chmod of the agent binary", EROFS, 90,
     {args = {0, 511}, bufs = {"/run/provium-agent\0"}, ptrs = {0}})
end)

test("host processes, mounts, files and network stay out of sight", function(t)
  t:assert_eq(vm:read_file("/proc/1/comm"), "provium-agent\n")
  local pids = tonumber(sh(t, "ls /proc | grep -c '^[0-9]'"))
  t:assert(pids < 10, "only the sandbox's processes: " .. pids)
  no(t, "kill of a host pid", ESRCH, 62, HOST_PID, 0)
  t:assert_eq(sh(t, "ls /sys/class/net"), "lo\n")
  t:assert_eq(sh(t, "ip -o link | wc -l"), "1\n")
  sh(t, "mkdir -p /mnt/scratch && mount -t tmpfs none /mnt/scratch && echo hi > /mnt/scratch/f")
  vm:write_file(MARKER, "written inside")
  sh(t, "echo 1 > /proc/sys/net/ipv4/ip_forward")  -- the sandbox's own network namespace
  t:assert_eq(vm:read_file("/proc/sys/net/ipv4/ip_forward"), "1\n")
  sh(t, "hostname renamed-inside")
  t:assert_eq(sh(t, "hostname"), "renamed-inside\n")
end)
)lua");
  RunOutput r;
  json f = run_json(p, r);
  expect_all_passed(f, r, 4);
  EXPECT_FALSE(fs::exists(marker)) << "a file written inside reached the host";
  EXPECT_EQ(slurp("/proc/self/mounts"), mounts_before);
  EXPECT_EQ(slurp("/proc/sys/net/ipv4/ip_forward"), forward_before);
  char after[256] = {};
  ::gethostname(after, sizeof after - 1);
  EXPECT_STREQ(after, host_name);
}

TEST(LocalSandbox, WhatTestsLegitimatelyDoStillWorks) {
  Project p;
  p.write("provium.toml", kConfig);
  p.write("a.test.lua", std::string(kPrelude) + R"lua(
test("root with mounts of its own", function(t)
  t:assert_eq(sh(t, "id -u"), "0\n")
  sh(t, "mkdir -p /mnt/t && mount -t tmpfs none /mnt/t && echo x > /mnt/t/f && umount /mnt/t")
  sh(t, "mkdir -p /tmp/l /tmp/u /tmp/w /tmp/m && echo base > /tmp/l/f && " ..
        "mount -t overlay overlay -o lowerdir=/tmp/l,upperdir=/tmp/u,workdir=/tmp/w /tmp/m && " ..
        "echo more >> /tmp/m/f")
  t:assert_eq(vm:read_file("/tmp/m/f"), "base\nmore\n")
  t:assert_eq(vm:read_file("/tmp/l/f"), "base\n")
  t:assert_eq(sh(t, "unshare -U -r id -u"), "0\n")
end)

test("the minimal /dev works", function(t)
  t:assert_eq(sh(t, "head -c 4 /dev/zero | wc -c"), "4\n")
  t:assert_eq(sh(t, "head -c 8 /dev/urandom | wc -c; head -c 8 /dev/random | wc -c"), "8\n8\n")
  sh(t, "echo discarded > /dev/null")
  t:assert_contains(vm:run("dd if=/dev/zero of=/dev/full bs=1 count=1").stderr,
                    "No space left on device")
  t:assert(open_errno("/dev/ptmx", 2) == 0, "a pty from the private devpts")
  sh(t, "echo shared > /dev/shm/x && test -L /dev/fd && test -e /dev/stdin")
  t:assert_eq(sh(t, "ls /proc/self/fd/ >/dev/null && cat /sys/class/net/lo/address"),
              "00:00:00:00:00:00\n")
end)

test("ownership, modes and credentials", function(t)
  sh(t, "touch /tmp/o && chown 1000:1000 /tmp/o && chmod 4750 /tmp/o")
  t:assert_eq(sh(t, "stat -c '%u:%g %a' /tmp/o"), "1000:1000 4750\n")
  sh(t, "cp /etc/hostname /etc/hostname.copy && chown 1000 /etc/hostname.copy")
  t:assert_eq(sh(t, "setpriv --reuid 1000 --regid 1000 --clear-groups id -u"), "1000\n")
  local w = vm:spawn_worker({uid = 1000, gid = 1000})
  t:assert_eq(w:run("id -u; id -g").stdout, "1000\n1000\n")
end)

test("network namespaces and veths of its own", function(t)
  sh(t, "ip link add v0 type veth peer name v1 && ip link set v0 up && ip link show v1")
  sh(t, "ip netns add inner && ip netns exec inner ip link set lo up && ip netns del inner")
  t:assert_eq(sh(t, "unshare -n ip -o link | wc -l"), "1\n")
end)
)lua");
  RunOutput r;
  json f = run_json(p, r);
  expect_all_passed(f, r, 4);
}

TEST(LocalSandbox, BootFilesConsoleResetAndCleanJson) {
  Project p;
  p.write("provium.toml", kConfig);
  p.write("a.test.lua", R"lua(
local vm = provium:vm("box", "host", {files = {
  {path = "/etc/provium-boot/config", content = "from boot", mode = 384},
  {path = "/tmp/early", content = "in tmpfs"},
}})
vm:boot()
local lan = provium:bridge("lan")
local a, b = provium:vm("a", "host"), provium:vm("b", "host")
lan:attach({a, b})
a:boot(); b:boot()

test("boot files are there before the agent starts", function(t)
  t:assert_eq(vm:read_file("/etc/provium-boot/config"), "from boot")
  t:assert_eq(vm:stat("/etc/provium-boot/config").perm, 384)
  t:assert_eq(vm:read_file("/tmp/early"), "in tmpfs")
end)

test("the agent's output is the console, never provium's stdout", function(t)
  local c = vm:console()
  local s = c:read()
  vm:run("echo console-marker-1 >> /proc/1/fd/1; echo console-marker-2 >> /proc/1/fd/2")
  c:expect("console-marker-1", "5s")
  c:expect("console-marker-2", "5s")
  t:assert_contains(s:read_until("console-marker-2"), "console-marker-1")
  t:assert_contains(c:read_log(), "console-marker-1\n")
end)

test("reset starts over from a fresh overlay, console kept", function(t)
  vm:write_file("/etc/written-before-reset", "x")
  vm:run("mount -t tmpfs none /mnt")
  vm:reset()
  t:assert_raises(function() vm:read_file("/etc/written-before-reset") end)
  t:assert_eq(vm:read_file("/etc/provium-boot/config"), "from boot")
  t:assert_eq(vm:run("hostname").stdout, "box\n")
  t:assert_eq(vm:run("grep -c ' /mnt ' /proc/mounts").stdout, "0\n")
  t:assert_contains(vm:console():read_log(), "console-marker-1")
end)

test("a reset sandbox is back on its bridges", function(t)
  local A, B = a:nic("lan"):address(), b:nic("lan"):address()
  a:reset()
  t:assert_contains(a:run("ip -4 addr show eth0").stdout, A .. "/24")
  b:run_async("python3 -c \"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); " ..
              "s.bind(('0.0.0.0', 7001)); d, p = s.recvfrom(100); s.sendto(b'back:' + d, p)\"")
  local r = a:run({"python3", "-c", ([[
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.5)
for i in range(10):
    s.sendto(b"hi", ("%s", 7001))
    try:
        print(s.recvfrom(100)[0].decode()); break
    except socket.timeout:
        pass
]]):format(B)})
  t:assert_eq(r.stdout, "back:hi\n")
end)
)lua");
  RunOutput r;
  json f = run_json(p, r);
  expect_all_passed(f, r, 4);
}
