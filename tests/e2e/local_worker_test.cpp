// Workers from Lua (REFERENCE §5.11) through `--vmm local`: vm:spawn_worker, the relayed
// Process and File objects, credentials, option errors and scope cleanup.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "harness.hpp"

using namespace provium::e2e;
using nlohmann::json;

namespace {

const char* kConfig = "[profiles.host]\nkernel = \"/nonexistent\"\ncmdline = \"console=ttyS0\"\n";

json run_json(Project& p, RunOutput& r) {
  r = p.run({"--vmm", "local", "--json", "."}, {}, std::chrono::seconds(90));
  auto nl = r.out.find('\n');
  return json::parse(r.out.substr(0, nl), nullptr, false);
}

void expect_all_passed(const json& f, const RunOutput& r, size_t count) {
  ASSERT_TRUE(f.is_object()) << r.out << r.err;
  EXPECT_TRUE(f["chunk_error"].is_null()) << f.dump();
  EXPECT_EQ(f["tests"].size(), count) << f.dump();
  for (auto& t : f["tests"]) EXPECT_EQ(t["status"], "passed") << t.dump() << "\n" << r.err;
}

}  // namespace

TEST(LocalWorker, RunProcessesFilesAndSyscalls) {
  Project p;
  p.write("provium.toml", kConfig);
  p.write("w.test.lua", R"lua(
local vm = provium:vm("w", "host")
vm:boot()
test("run in a worker with lowered credentials", function(t)
  local w = vm:spawn_worker({uid = 65534, gid = 65534})
  t:assert_eq(w:run("id -u; id -g").stdout, "65534\n65534\n")
  t:assert_eq(w:run({"/bin/echo", "argv"}).stdout, "argv\n")
  t:assert_eq(w:run("echo $X", {env = {X = "y"}}).stdout, "y\n")
  t:assert_eq(vm:run("id -u").stdout, "0\n")  -- the main agent is unchanged
  local r = w:syscall(105, 0)  -- setuid(0)
  t:assert_eq(r.ret, -1)
  t:assert_eq(r.errno, 1)      -- EPERM
  local pending = w:syscall_async(39)  -- getpid
  local ppid = tonumber(w:run("echo $PPID").stdout)
  t:assert_eq(pending:await().ret, ppid)
  t:assert(tostring(w):match("^worker%(%d+%)$"), tostring(w))
  t:assert(w:handle() > 0)
  t:assert_eq(w:join(), 0)
  t:assert_contains(t:assert_raises(function() w:run("true") end), "worker was joined")
end)
test("relayed processes and streams", function(t)
  local w = vm:spawn_worker()
  local p = w:run_async("for i in 1 2 3; do echo line$i; sleep 0.05; done; exit 5")
  t:assert_eq(p:stdout_stream():read_until("line2\n"), "line1\nline2\n")
  t:assert(p:pid() > 1)
  local q = w:run_async("cat")
  t:assert_eq(q:status(), "running")
  q:stdin_write("ping")
  q:close_stdin()
  t:assert_eq(q:wait("5s").stdout, "ping")
  local long = w:run_async("sleep 30")
  wait_until(function() return p:status() == "exited" end, {timeout = "5s"})
  t:assert_eq(w:kill(), 1)     -- only `long` still runs
  t:assert_eq(long:wait("5s").signal, 15)
  t:assert_eq(w:join(), 128 + 15)  -- the worst of p (exit 5, waited by join) and long (TERM)
end)
test("files opened by the worker", function(t)
  vm:write_file("/tmp/secret", "root only")
  vm:run("chmod 600 /tmp/secret")
  local w = vm:spawn_worker({uid = 65534})
  t:assert_contains(t:assert_raises(function() w:open_file("/tmp/secret", {read = true}) end),
                    "worker:open_file: Permission denied (errno 13)")
  vm:mkdir("/tmp/shared")
  vm:run("chmod 777 /tmp/shared")
  local f = w:open_file("/tmp/shared/mine", {write = true, create = true})
  t:assert_eq(f:write("abc"), 3)
  f:close()
  t:assert_contains(t:assert_raises(function() f:write("x") end), "file is closed")
  t:assert_eq(vm:stat("/tmp/shared/mine").size, 3)
  t:assert_eq(vm:run("stat -c %u /tmp/shared/mine").stdout, "65534\n")
  local r = w:open_file("/tmp/shared/mine", {read = true})
  t:assert_eq(r:read_all(), "abc")
  t:assert_eq(r:seek(1), 1)
  t:assert_eq(r:tail_stream():read_until("c"), "bc")
end)
test("capabilities", function(t)
  local none = vm:spawn_worker({caps = {}})
  t:assert_eq(none:run("grep CapEff /proc/self/status").stdout, "CapEff:\t0000000000000000\n")
  local raw = vm:spawn_worker({uid = 1000, caps = {"net_raw"}})
  t:assert_eq(raw:run("grep CapEff /proc/self/status").stdout, "CapEff:\t0000000000002000\n")
end)
)lua");
  RunOutput r;
  json f = run_json(p, r);
  expect_all_passed(f, r, 4);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST(LocalWorker, OptionErrorsAreClear) {
  Project p;
  p.write("provium.toml", kConfig);
  p.write("o.test.lua", R"lua(
local vm = provium:vm("o", "host")
vm:boot()
test("option errors", function(t)
  local function err(opts) return t:assert_raises(function() vm:spawn_worker(opts) end) end
  t:assert_contains(err({thread = true}), "{thread = true} is not supported")
  t:assert_contains(err({bogus = 1}), "unknown option `bogus`")
  t:assert_contains(err({uid = "root"}), "uid must be a non-negative integer id, got string")
  t:assert_contains(err({gid = -1}), "gid must be a non-negative integer id")
  t:assert_contains(err({groups = 5}), "groups must be an array of group ids, got number")
  t:assert_contains(err({caps = {1}}), "caps[1] must be a capability name, got number")
  t:assert_contains(err({caps = {"nope"}}), "unknown capability `nope`")
  t:assert_contains(err("x"), "options must be a table")
  local w = vm:spawn_worker({thread = false})
  t:assert_contains(t:assert_raises(function() w:kill({}) end), "signal must be an integer or a name")
  t:assert_contains(t:assert_raises(function() w:kill("bogus") end), "unknown signal name `bogus`")
  t:assert_contains(t:assert_raises(function() w:run_async("true", {timeout = 1}) end),
                    "worker:run_async: timeout is not accepted")
  t:assert_eq(w:join(), 0)
  t:assert_contains(t:assert_raises(function() w:join() end), "worker was joined")
end)
)lua");
  RunOutput r;
  json f = run_json(p, r);
  expect_all_passed(f, r, 1);
}

TEST(LocalWorker, ScopeEndClosesWorkersAndTheirChildren) {
  Project p;
  p.write("provium.toml", kConfig);
  p.write("c.test.lua", R"lua(
local vm = provium:vm("c", "host")
vm:boot()
test("leaves a worker with running children", function(t)
  local w = vm:spawn_worker()
  local stubborn = w:run_async("trap '' TERM; echo $$ > /tmp/stubborn; exec sleep 100")
  w:run_async("echo $$ > /tmp/plain; exec sleep 100")
  t:assert(vm:run("for i in $(seq 50); do [ -s /tmp/stubborn ] && [ -s /tmp/plain ] && exit 0; sleep 0.1; done; exit 1"):ok())
  local f = w:open_file("/tmp/plain", {read = true})
  local s = stubborn:stdout_stream()
end)
test("they are gone afterwards", function(t)
  for _, name in ipairs({"stubborn", "plain"}) do
    local pid = vm:read_file("/tmp/" .. name):gsub("%s", "")
    t:assert(not vm:run("kill -0 " .. pid):ok(), name .. " still runs")
  end
end)
)lua");
  RunOutput r;
  json f = run_json(p, r);
  expect_all_passed(f, r, 2);
  EXPECT_EQ(f.dump().find("teardown"), std::string::npos) << f.dump();
}
