// vm:ioctl, vm:syscall_async and the snapshot-readiness probes, through the real agent in
// the --vmm local sandbox (the QEMU suites use the same code path).
#include <gtest/gtest.h>

#include "harness.hpp"

using namespace provium::e2e;

TEST(RawGuestOps, IoctlSyscallAsyncAndQuiescence) {
  Project p;
  p.write("provium.toml",
          "[profiles.linux]\nkernel = \"/nonexistent\"\ncmdline = \"console=ttyS0\"\n");
  p.write("raw.test.lua", R"lua(
local vm = provium:vm("a", "linux")
vm:boot()
test("raw ops", function(t)
  vm:write_file("/tmp/f", "12345")
  local f = vm:open_file("/tmp/f", {read = true})
  t:assert_eq(vm:open_file_count(), 1)
  t:assert(not vm:is_quiescent())
  local r = vm:ioctl(f:fd(), 0x541B, "\0\0\0\0")  -- FIONREAD
  t:assert_eq(r.ret, 0)
  t:assert_eq(string.unpack("<i4", r.out_data), 5)
  f:close()
  t:assert_eq(vm:open_file_count(), 0)
  local p = vm:syscall_async(39)  -- getpid
  local res = p:await()
  t:assert(res.ret > 0)
  t:assert_contains(t:assert_raises(function() p:await() end), "already returned")
  local s = vm:tail_file("/tmp/f")
  t:assert_eq(vm:open_stream_count(), 1)
  s:close()
  t:assert_eq(vm:open_stream_count(), 0)
  t:assert(vm:is_quiescent())
  t:assert_contains(t:assert_raises(function() vm:ioctl(f:fd(), 1, "", {bufs = {"x"}}) end), "ptr_offsets")
end)
)lua");
  auto r = p.run({"--vmm", "local", "-v", "."});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("1 passed, 0 failed"), std::string::npos) << r.out << r.err;
}
