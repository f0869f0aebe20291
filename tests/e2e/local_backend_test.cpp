// `--vmm local`: guest operations through the real agent in a namespaced copy-on-write
// sandbox. Every write inside must leave the host untouched.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "harness.hpp"

using namespace provium::e2e;
using nlohmann::json;

namespace {

const char* kConfig = "[profiles.host]\nkernel = \"/nonexistent\"\ncmdline = \"console=ttyS0\"\n";

json run_json(Project& p, RunOutput& r) {
  r = p.run({"--vmm", "local", "--json", "."}, {}, std::chrono::seconds(60));
  for (auto& line : std::vector<std::string>{r.out})
    if (!line.empty()) return json::parse(line.substr(0, line.find('\n')), nullptr, false);
  return json();
}

void expect_all_passed(const json& f, const RunOutput& r) {
  ASSERT_TRUE(f.is_object()) << r.out << r.err;
  for (auto& t : f["tests"]) EXPECT_EQ(t["status"], "passed") << t.dump() << "\n" << r.err;
  EXPECT_TRUE(f["chunk_error"].is_null()) << f.dump();
}

}  // namespace

TEST(LocalBackend, RunAndFilesInsideTheSandbox) {
  Project p;
  p.write("provium.toml", kConfig);
  std::string marker = "/etc/provium-e2e-" + std::to_string(::getpid());
  p.write("a.test.lua", R"lua(
local vm = provium:vm("a", "host")
vm:boot()
test("run forms", function(t)
  local r = vm:run("echo hello; echo oops >&2; exit 3")
  t:assert_eq(r.exit_code, 3)
  t:assert_eq(r.status, "exited")
  t:assert_eq(r.stdout, "hello\n")
  t:assert_eq(r.stderr, "oops\n")
  t:assert(not r:ok())
  t:assert_eq(vm:run({"/bin/echo", "x"}).stdout, "x\n")
  t:assert_eq(vm:run("echo", {"a", "b"}).stdout, "a b\n")
  t:assert_eq(vm:run("cat", {stdin = "abc"}).stdout, "abc")
  t:assert_eq(vm:run("echo $FOO", {env = {FOO = "bar"}}).stdout, "bar\n")
  t:assert_eq(vm:run("pwd", {cwd = "/tmp"}).stdout, "/tmp\n")
  local slow = vm:run("sleep 5", {timeout = "200ms"})
  t:assert_eq(slow.status, "timed_out")
  t:assert_eq(slow.exit_code, -2)
  local killed = vm:run("kill -9 $$")
  t:assert_eq(killed.status, "signalled")
  t:assert_eq(killed.signal, 9)
  local err = t:assert_raises(function() killed:assert_ok() end)
  t:assert_contains(err, "signalled")
end)
test("files", function(t)
  vm:write_file("/tmp/x", "data")
  t:assert_eq(vm:read_file("/tmp/x"), "data")
  local st = vm:stat("/tmp/x")
  t:assert_eq(st.size, 4)
  t:assert_eq(st.entry_type, "file")
  vm:mkdir("/tmp/d/e", {parents = true})
  local l = vm:listdir("/tmp/d")
  t:assert_eq(#l, 1)
  t:assert_eq(l[1].name, "e")
  t:assert_eq(l[1].entry_type, "directory")
  vm:rename("/tmp/x", "/tmp/y")
  vm:unlink("/tmp/y")
  local e = t:assert_raises(function() vm:read_file("/tmp/nope") end)
  t:assert_contains(e, "read_file: No such file or directory (errno 2)")
  vm:write_file("MARKER", "written inside the sandbox")
  t:assert_eq(vm:run("hostname").stdout, "a\n")
  t:assert_eq(vm:run("echo $$").exit_code, 0)
end)
test("async processes and streams", function(t)
  local p = vm:run_async("for i in 1 2 3; do echo line$i; sleep 0.05; done")
  local s = p:stdout_stream()
  t:assert_eq(s:read_until("line2\n"), "line1\nline2\n")
  local q = vm:run_async("cat")
  q:stdin_write("ping")
  q:close_stdin()
  t:assert_eq(q:wait("5s").stdout, "ping")
  local r = p:wait()
  t:assert(r:ok())
  t:assert_contains(t:assert_raises(function() p:wait() end), "consumed")
  t:assert(vm:clock():get() > 1e9)
end)
)lua" + std::string());
  std::string text = p.read("a.test.lua");
  auto at = text.find("MARKER");
  text.replace(at, 6, marker);
  p.write("a.test.lua", text);
  RunOutput r;
  json f = run_json(p, r);
  expect_all_passed(f, r);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(::access(marker.c_str(), F_OK), 0) << "the sandbox wrote to the host's " << marker;
}

TEST(LocalBackend, FileHandlesAndTails) {
  Project p;
  p.write("provium.toml", kConfig);
  p.write("f.test.lua", R"lua(
local vm = provium:vm("f", "host")
vm:boot()
test("file handles", function(t)
  local f = vm:open_file("/tmp/h", {write = true, create = true, truncate = true})
  t:assert_eq(f:write("hello world"), 11)
  f:close()
  t:assert_contains(t:assert_raises(function() f:write("x") end), "file is closed")
  t:assert_eq(f:fd(), 0)
  local r = vm:open_file("/tmp/h", {read = true})
  t:assert_eq(r:read(5), "hello")
  t:assert_eq(r:tell(), 5)
  r:seek(6)
  t:assert_eq(r:read_all(), "world")
  t:assert_eq(r:read(10), "")
  t:assert_contains(t:assert_raises(function() r:seek(0, "bogus") end), "whence must be set/cur/end")
  t:assert_contains(t:assert_raises(function() vm:open_file("/tmp/h", {create = true}) end),
                    "read, write, append")
end)
test("tails follow appends", function(t)
  vm:write_file("/tmp/log", "one\n")
  local s = vm:tail_file("/tmp/log", {start = "beginning"})
  t:assert_eq(s:read_until("one\n"), "one\n")
  vm:run("echo two >> /tmp/log")
  s:expect("two\n", "5s")
  local late = vm:tail_file("/tmp/log")  -- from the end
  vm:run("echo three >> /tmp/log")
  t:assert_eq(late:read_until("three\n", "5s"), "three\n")
  s:close()
  t:assert_eq(s:next(), nil)
  t:assert_contains(t:assert_raises(function() s:expect("x") end), "stream closed")
  t:assert_contains(t:assert_raises(function() vm:tail_file("/tmp/none") end),
                    "tail_file: No such file or directory (errno 2)")
end)
)lua");
  RunOutput r;
  json f = run_json(p, r);
  expect_all_passed(f, r);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST(LocalBackend, BatchRunsItemsInOrder) {
  Project p;
  p.write("provium.toml", kConfig);
  p.write("b.test.lua", R"lua(
local vm = provium:vm("b", "host")
vm:boot()
test("batch", function(t)
  local r = vm:batch(function(b)
    b:write_file("/tmp/a", "x")
    b:read_file("/tmp/a")
    b:read_file("/tmp/missing")
    b:run("echo hi")
    b:stat("/tmp/a")
    b:syscall(39)
  end)
  t:assert_eq(#r, 6)
  t:assert_eq(r[2].ok, "x")
  t:assert_contains(r[3].err, "read_file: No such file or directory (errno 2)")
  t:assert_eq(r[4].ok.stdout, "hi\n")
  t:assert_eq(r[5].ok.size, 1)
  t:assert(r[6].ok.ret > 0)
  t:assert_contains(t:assert_raises(function()
    vm:batch(function(b) b:syscall(1, {args = {}}) end)
  end), "integer form")
end)
)lua");
  RunOutput r;
  json f = run_json(p, r);
  expect_all_passed(f, r);
}

TEST(LocalBackend, StateErrorsAndShutdown) {
  Project p;
  p.write("provium.toml", kConfig);
  p.write("s.test.lua", R"lua(
test("state machine", function(t)
  local vm = provium:vm("b", "host")
  t:assert_contains(t:assert_raises(function() vm:run("true") end), "VM not booted")
  vm:boot()
  t:assert_eq(vm:state(), "booted")
  t:assert_contains(t:assert_raises(function() vm:boot() end), "VM already booted")
  vm:pause()
  t:assert_eq(vm:state(), "paused")
  t:assert_contains(t:assert_raises(function() vm:run("true") end), "VM is paused; use resume()")
  vm:resume()
  t:assert(vm:run("true"):ok())
  vm:shutdown()
  t:assert_contains(t:assert_raises(function() vm:run("true") end), "VM is shutdown; create a new one")
end)
)lua");
  RunOutput r;
  json f = run_json(p, r);
  expect_all_passed(f, r);
}

TEST(LocalBackend, WorksWhenTheBinariesLiveUnderTmp) {
  // The sandbox mounts a private /tmp; an install (or a checkout) under /tmp must still reach
  // its agent. The project dir is under /tmp, so the copies below are too.
  Project p;
  p.write("provium.toml", kConfig);
  p.write("t.test.lua", R"lua(
local vm = provium:vm("t", "host")
vm:boot()
test("runs", function(t) t:assert_eq(vm:run("echo ok").stdout, "ok\n") end)
)lua");
  fs::path bin = p.dir() / "bin";
  fs::create_directories(bin);
  fs::copy_file(provium_bin(), bin / "provium");
  fs::copy_file(fs::path(provium_bin()).parent_path() / "provium-agent", bin / "provium-agent");
  ASSERT_EQ(p.dir().string().rfind("/tmp/", 0), 0u);
  auto r = run_program({(bin / "provium").string(), "--vmm", "local", "."}, p.dir(),
                       environment_with({{"HOME", p.dir().string()}}), "", std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("1 passed"), std::string::npos) << r.out;
}
