// `provium list` on a suite shaped like the public ones written for the original Provium
// (issue 17): profiles in profiles/<name>/profile.provium.toml with build, root, initrd, disks,
// cmdline_file, inject_agent = false and agent_boot_timeout; helpers that claim, boot, wait on
// the console, run commands, make syscalls and spawn workers at file scope. Listing runs file
// scope against stand-ins of the real shapes: every test is listed, nothing boots or builds.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "harness.hpp"

using namespace provium::e2e;
using nlohmann::json;

namespace {

void write_suite(const Project& p) {
  p.write("provium.toml",
          "[provium]\nroots = [\"tests\"]\n\n[profiles]\nfrom_dir = \"profiles\"\n");
  std::string marker = (p.dir() / "BUILT").string();
  p.write("profiles/base/profile.provium.toml",
          "build = \"touch " + marker + " && mkdir -p {out}/root\"\n" + R"toml(
root = "{out}/root"
initrd = "{out}/initrd.img"
cmdline_file = "{out}/cmdline"
inject_agent = false
agent_boot_timeout = 120
disks = [{ scratch = "64M", id = "scratch" }]
)toml");
  p.write("tests/helpers/cluster.lua", R"lua(
local M = {}
function M.reserve(lab)
  lab:claim({memory = "2G", cpus = 2})
end
-- Everything a real helper does at file scope, each result used the way real code uses it.
function M.node(lab, name)
  local vm = lab:vm(name, "base", {memory = "512M"})
  vm:boot({disks = {{scratch = "256M", id = "data"}}})
  local console = vm:console()
  console:expect("login:", "60s")
  local release = vm:run("uname -r"):assert_ok().stdout:gsub("%s+$", "")
  assert(type(release) == "string")
  local r = vm:run({"cat", "/proc/cpuinfo"})
  if not r:ok() or r.exit_code ~= 0 then error("cpuinfo: " .. r.stderr) end
  local pid = vm:syscall(39)
  assert(pid.ret >= 0 and pid.errno == 0, "getpid")
  local rd = vm:syscall(0, {args = {0, 0, 16}, bufs = {string.rep("\0", 16)}, ptrs = {1}})
  assert(#rd.out_bufs == 1 and #rd.out_bufs[1] == 16, "out_bufs sized like the request")
  local w = vm:spawn_worker({uid = 1000, gid = 1000})
  w:run("id -u"):assert_ok()
  assert(w:syscall(102).errno == 0)
  local p = vm:run_async("sleep 100")
  local out = p:stdout_stream():read_until("ready", "5s")
  assert(type(out) == "string")
  p:kill()
  local res = p:wait("1s")
  assert(res.exit_code ~= nil)
  vm:clock():sleep("1s")
  assert(vm:clock():get() >= 0)
  local items = vm:batch(function(b)
    b:run("true")
    b:read_file("/etc/hostname")
    b:stat("/")
  end)
  assert(#items == 3 and items[1].ok ~= nil, "one result per queued op")
  local f = vm:open_file("/tmp/x", {write = true, create = true})
  f:write("x")
  f:close()
  assert(vm:read_file("/etc/hostname") ~= nil)
  assert(wait_until(function() return vm:run("true"):ok() end, {timeout = "5s"}))
  vm:write_file("/tmp/ready", "1")
  return vm, release
end
return M
)lua");
  p.write("tests/storage/durability.test.lua", R"lua(
local cluster = require("helpers.cluster")
cluster.reserve(provium)
local vm = cluster.node(provium, "db")
local disk = vm:disk("data")
disk:read_sectors(0, 1)

test("committed writes survive a power cut", {spec = "DUR-1", tags = {"durability", "slow"}}, function(t)
  disk:power_cut()
end)
test("unsynced writes may vanish", {skip = "flaky on TCG", covered_by = {"DUR-1"}}, function(t) end)
)lua");
  p.write("tests/net/pair.test.lua", R"lua(
local cluster = require("helpers.cluster")
local lan = provium:bridge("lan")
local a = cluster.node(provium, "a")
local b = cluster.node(provium, "b")
lan:attach({a, b})
local cap = lan:capture()
cap:close()
test("a reaches b", {tags = "net"}, function(t) end)
test("partition heals", {spec = {"NET-2", "NET-3"}}, function(t) end)
)lua");
  p.write("tests/broken.test.lua",
          "test('before the error', function(t) end)\nlocal x = nil\nx.y = 1\n");
}

}  // namespace

TEST(ListStandins, AProvium1SuiteListsEveryTestWithoutBootingOrBuilding) {
  Project p;
  write_suite(p);
  RunOutput r = p.run({"list", "--json"}, {}, std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 1) << "a file failed to load: list exits 1\n" << r.out << r.err;
  std::map<std::string, json> files;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    if (j.contains("path")) files[j["path"].get<std::string>()] = j;
  }
  ASSERT_EQ(files.size(), 3u) << r.out << r.err;
  auto names = [](const json& f) {
    std::set<std::string> s;
    for (auto& t : f["tests"]) s.insert(t["name"].get<std::string>());
    return s;
  };
  auto& dur = files["tests/storage/durability.test.lua"];
  EXPECT_TRUE(dur["chunk_error"].is_null()) << dur.dump();
  EXPECT_EQ(names(dur), (std::set<std::string>{"committed writes survive a power cut",
                                               "unsynced writes may vanish"}));
  auto& net = files["tests/net/pair.test.lua"];
  EXPECT_TRUE(net["chunk_error"].is_null()) << net.dump();
  EXPECT_EQ(names(net), (std::set<std::string>{"a reaches b", "partition heals"}));
  EXPECT_FALSE(files["tests/broken.test.lua"]["chunk_error"].is_null());
  EXPECT_FALSE(fs::exists(p.dir() / "BUILT")) << "listing ran a profile build";

  RunOutput plain = p.run({"list", "--tests"}, {}, std::chrono::seconds(60));
  EXPECT_EQ(plain.exit_code, 1);
  EXPECT_NE(plain.out.find("committed writes survive a power cut"), std::string::npos) << plain.out;
}
