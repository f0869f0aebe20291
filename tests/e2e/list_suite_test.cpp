// End-to-end checks of `provium list` (REFERENCE §2.3, seed-cli "provium list"): files, fixtures,
// --tests and --json on a realistic suite written for the original Provium, evaluated in the
// inert listing mode: no test body, no boot, no build, no preflight, no host commands.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "events_test_util.hpp"

using namespace provium::e2e;
using namespace provium::e2e::obs;

namespace {

using std::chrono::seconds;

const std::vector<std::string> kMarkers = {"BUILT_MARKER",  "BUILT_MARKER_ROUTER", "POPEN_RAN",
                                           "EXECUTE_RAN",   "HELPER_EXEC",         "POPEN_HELPER",
                                           "BODY_RAN",      "FIXTURE_RAN",         "POPEN_READ",
                                           "TEST_SCOPE_RAN"};

std::string at_root(std::string s, const Project& p) {
  const std::string key = "@ROOT@";
  for (size_t pos; (pos = s.find(key)) != std::string::npos;)
    s.replace(pos, key.size(), p.dir().string());
  return s;
}

// A suite as it would be written for the original Provium.
void write_realistic_suite(const Project& p) {
  p.write("provium.toml", R"toml([provium]
roots = ["tests"]

[profiles]
from_dir = "profiles"
)toml");
  p.write("profiles/debian/profile.provium.toml", at_root(R"toml(
build = "touch @ROOT@/BUILT_MARKER && mkdir -p {out} && echo k > {out}/vmlinuz"
kernel = "{out}/vmlinuz"
initrd = "{out}/initramfs.cpio.gz"
cmdline = "console=ttyS0 panic=1 quiet"
)toml",
                                                          p));
  p.write("profiles/router/profile.provium.toml", at_root(R"toml(
build = "touch @ROOT@/BUILT_MARKER_ROUTER && ./mkimage.sh {out}"
kernel = "{out}/bzImage"
cmdline_file = "{out}/cmdline"
disks = [{ path = "{out}/data.img", id = "data", readonly = true }]
)toml",
                                                          p));
  p.write("profiles/router/mkimage.sh", "#!/bin/sh\nexit 1\n");
  p.write("profiles/README.md", "profiles live here\n");
  p.write("tests/lib/helpers.lua", at_root(R"lua(os.execute("touch @ROOT@/HELPER_EXEC")
local M = {}
function M.pair(lab, profile)
  local a = lab:vm("a", profile, {memory = "256M"})
  local b = lab:vm("b", profile, {memory = "256M", cpus = 1})
  lab:boot()
  return a, b
end
function M.host_kernel()
  local h = io.popen("touch @ROOT@/POPEN_HELPER; uname -r")
  local v = h:read("*a")
  h:close()
  return v
end
return M
)lua",
                                           p));
  p.write("tests/net/ping.test.lua", at_root(R"lua(local helpers = require("lib.helpers")
local a, b = helpers.pair(provium, "debian")
a:run("ip link set eth0 up")
local kver = helpers.host_kernel()
local h = io.popen("touch @ROOT@/POPEN_RAN && uname -r")
local out = h:read("*a")
h:close()
for line in io.popen("touch @ROOT@/POPEN_READ; ls /"):lines() do end
os.execute("touch @ROOT@/EXECUTE_RAN")

test("ping works", {spec = "RFC 792", tags = {"net", "smoke"}, timeout = "30s"}, function(t)
  os.execute("touch @ROOT@/BODY_RAN")
  t:assert_eq(a:run("ping -c1 b").exit_code, 0)
end)

test("mtu discovery", {spec = {"RFC 791", "RFC 1191"}, slow = true, weight = 2.5, retries = 3,
                       owner = {name = "net-team", oncall = false}}, function(t)
  os.execute("touch @ROOT@/BODY_RAN")
end)
)lua",
                                             p));
  p.write("tests/disk/io.test.lua", at_root(R"lua(provium:claim{memory = "2G", cpus = 2}
local vm = provium:vm("disk", "router", {memory = "1G", cpus = 2})
vm:boot({disks = {{scratch = "64M", id = "scratch"}}})
vm:run("mkfs.ext4 -q /dev/vdb")

test("writes survive", {subsystems = {"block", "ext4"}, tags = "storage"}, function(t)
  local scoped = provium:vm("scoped", "debian")
  scoped:boot()
  os.execute("touch @ROOT@/TEST_SCOPE_RAN")
end)
test("fsync", {skip = "needs a real disk"}, function(t) end)
)lua",
                                            p));
  p.write("tests/broken.test.lua", R"lua(test("registered before the error", function(t) end)
local cfg = nil
local x = cfg.missing_field
)lua");
  p.write("tests/zz_after.test.lua", "test('after broken', function(t) end)\n");
  p.write("tests/fixtures/base.fixture.lua", at_root(R"lua(os.execute("touch @ROOT@/FIXTURE_RAN")
local vm = provium:vm("base", "debian")
vm:boot()
return vm:snapshot()
)lua",
                                                     p));
  p.write("tests/fixtures/net/router.fixture.lua",
          at_root(R"lua(os.execute("touch @ROOT@/FIXTURE_RAN")
local vm = provium:vm("r", "router")
vm:boot()
return vm:snapshot()
)lua",
                  p));
}

void expect_nothing_ran(const Project& p) {
  for (auto& e : fs::recursive_directory_iterator(p.dir())) {
    std::string n = e.path().filename().string();
    EXPECT_TRUE(std::find(kMarkers.begin(), kMarkers.end(), n) == kMarkers.end())
        << "listing executed something: " << e.path();
  }
}

// Listing never needs KVM or the guest tools: no --no-preflight on purpose.
RunOutput list(const Project& p, std::vector<std::string> args) {
  args.insert(args.begin(), "list");
  return p.run(args, {}, seconds(30));
}

std::string tail_after_last_slash(const std::string& s) { return s.substr(s.rfind('/') + 1); }

TEST(ListSuite, DefaultPrintsTestFilesOnePerLineForXargs) {
  Project p;
  write_realistic_suite(p);
  auto r = list(p, {});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto lines = lines_of(r.out);
  std::set<std::string> names;
  for (auto& l : lines) {
    fs::path abs = fs::path(l).is_absolute() ? fs::path(l) : p.dir() / l;
    EXPECT_TRUE(fs::is_regular_file(abs)) << "not a path usable from cwd: '" << l << "'";
    names.insert(tail_after_last_slash(l));
  }
  EXPECT_EQ(names, (std::set<std::string>{"broken.test.lua", "io.test.lua", "ping.test.lua",
                                          "zz_after.test.lua"}))
      << r.out;
  EXPECT_EQ(lines.size(), 4u) << r.out;
  EXPECT_TRUE(std::is_sorted(lines.begin(), lines.end())) << r.out;
  expect_nothing_ran(p);
}

TEST(ListSuite, FixturesAreRootRelativeNamesWithoutSuffix) {
  Project p;
  write_realistic_suite(p);
  auto r = list(p, {"--fixtures"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto lines = lines_of(r.out);
  std::sort(lines.begin(), lines.end());
  EXPECT_EQ(lines, (std::vector<std::string>{"fixtures/base", "fixtures/net/router"})) << r.out;
  expect_nothing_ran(p);
}

TEST(ListSuite, TestsShowsEachFileFollowedByIndentedTestsWithMeta) {
  Project p;
  write_realistic_suite(p);
  auto r = list(p, {"--tests"});
  auto lines = lines_of(r.out);
  auto find_line = [&](auto pred) -> long {
    for (size_t i = 0; i < lines.size(); ++i)
      if (pred(lines[i])) return static_cast<long>(i);
    return -1;
  };
  long ping = find_line([](const std::string& l) {
    return l.find("ping.test.lua") != std::string::npos && l.rfind(" ", 0) != 0;
  });
  long works = find_line([](const std::string& l) { return l.rfind("    ping works", 0) == 0; });
  long mtu = find_line([](const std::string& l) { return l.rfind("    mtu discovery", 0) == 0; });
  long after_file = find_line([](const std::string& l) {
    return l.find("zz_after.test.lua") != std::string::npos && l.rfind(" ", 0) != 0;
  });
  long after = find_line([](const std::string& l) { return l.rfind("    after broken", 0) == 0; });
  ASSERT_GE(ping, 0) << r.out << r.err;
  ASSERT_GE(works, 0) << r.out << r.err;
  ASSERT_GE(mtu, 0) << r.out << r.err;
  ASSERT_GE(after_file, 0) << r.out << r.err;
  ASSERT_GE(after, 0) << r.out << r.err;
  EXPECT_GT(works, ping);
  EXPECT_GT(mtu, works);
  EXPECT_GT(after, after_file);
  EXPECT_TRUE(contains(lines[works], "RFC 792")) << lines[works];
  EXPECT_TRUE(contains(lines[works], "smoke")) << lines[works];
  EXPECT_TRUE(contains(lines[mtu], "RFC 1191")) << lines[mtu];
  EXPECT_TRUE(contains(r.out + r.err, "attempt to index")) << "chunk error must be reported\n"
                                                           << r.out << r.err;
  expect_nothing_ran(p);
}

std::map<std::string, ojson> list_json(const Project& p, RunOutput& r) {
  r = list(p, {"--json"});
  std::map<std::string, ojson> m;
  for (auto& line : lines_of(r.out)) {
    ojson j = ojson::parse(line);
    EXPECT_TRUE(j.is_object()) << line;
    m[tail_after_last_slash(j.at("path").get<std::string>())] = j;
  }
  return m;
}

TEST(ListSuite, JsonObjectsPerFileWithTestsAndMeta) {
  Project p;
  write_realistic_suite(p);
  RunOutput r;
  auto m = list_json(p, r);
  ASSERT_EQ(m.size(), 4u) << r.out << r.err;
  for (auto& [name, j] : m) {
    auto k = keys_of(j);
    std::sort(k.begin(), k.end());
    EXPECT_EQ(k, (std::vector<std::string>{"chunk_error", "path", "tests"})) << j.dump();
    ASSERT_TRUE(j["tests"].is_array()) << j.dump();
    for (auto& t : j["tests"]) {
      auto tk = keys_of(t);
      std::sort(tk.begin(), tk.end());
      EXPECT_EQ(tk, (std::vector<std::string>{"meta", "name"})) << t.dump();
    }
  }
  auto& ping = m["ping.test.lua"];
  EXPECT_TRUE(ping["chunk_error"].is_null()) << ping.dump();
  ASSERT_EQ(ping["tests"].size(), 2u) << ping.dump();
  EXPECT_EQ(ping["tests"][0]["name"], "ping works");
  EXPECT_EQ(
      ping["tests"][0]["meta"],
      (ojson{{"spec", "RFC 792"}, {"tags", ojson::array({"net", "smoke"})}, {"timeout", "30s"}}))
      << ping.dump();
  EXPECT_EQ(ping["tests"][1]["name"], "mtu discovery");
  auto& mm = ping["tests"][1]["meta"];
  EXPECT_EQ(mm["spec"], ojson::array({"RFC 791", "RFC 1191"})) << mm.dump();
  EXPECT_EQ(mm["slow"], true) << mm.dump();
  EXPECT_TRUE(mm["weight"].is_number_float() && mm["weight"] == 2.5) << mm.dump();
  EXPECT_TRUE(mm["retries"].is_number_integer() && mm["retries"] == 3) << mm.dump();
  EXPECT_EQ(mm["owner"], (ojson{{"name", "net-team"}, {"oncall", false}})) << mm.dump();

  auto& io = m["io.test.lua"];
  EXPECT_TRUE(io["chunk_error"].is_null()) << io.dump();
  ASSERT_EQ(io["tests"].size(), 2u) << io.dump();
  EXPECT_EQ(io["tests"][0]["meta"],
            (ojson{{"subsystems", ojson::array({"block", "ext4"})}, {"tags", "storage"}}));
  EXPECT_EQ(io["tests"][1]["name"], "fsync");
  EXPECT_EQ(io["tests"][1]["meta"], (ojson{{"skip", "needs a real disk"}}));

  auto& broken = m["broken.test.lua"];
  ASSERT_TRUE(broken["chunk_error"].is_string()) << broken.dump();
  EXPECT_TRUE(contains(broken["chunk_error"].get<std::string>(), "attempt to index"))
      << broken.dump();

  auto& after = m["zz_after.test.lua"];
  EXPECT_TRUE(after["chunk_error"].is_null()) << after.dump();
  ASSERT_EQ(after["tests"].size(), 1u) << after.dump();
  EXPECT_EQ(after["tests"][0]["name"], "after broken");
  EXPECT_EQ(after["tests"][0]["meta"], ojson::object());
  expect_nothing_ran(p);
}

TEST(ListSuite, JsonPathsAreInDiscoveryOrder) {
  Project p;
  write_realistic_suite(p);
  auto r = list(p, {"--json"});
  std::vector<std::string> paths;
  for (auto& line : lines_of(r.out))
    paths.push_back(ojson::parse(line).at("path").get<std::string>());
  EXPECT_EQ(paths.size(), 4u);
  EXPECT_TRUE(std::is_sorted(paths.begin(), paths.end())) << r.out;
}

TEST(ListSuite, VmFixtureAtFileScopeIsInertToo) {
  Project p;
  write_realistic_suite(p);
  p.write("tests/uses_fixture.test.lua", R"lua(local vm = provium:vm_fixture("fixtures/base")
vm:run("true")
test("from fixture", {spec = "F"}, function(t) end)
)lua");
  RunOutput r;
  auto m = list_json(p, r);
  auto& j = m["uses_fixture.test.lua"];
  EXPECT_TRUE(j["chunk_error"].is_null()) << j.dump();
  ASSERT_EQ(j["tests"].size(), 1u) << j.dump();
  EXPECT_EQ(j["tests"][0]["name"], "from fixture");
  expect_nothing_ran(p);
}

// A file that fails to load still appears in the listing, but the listing exits 1.
TEST(ListSuite, SyntaxErrorListsEveryFileAndExitsOne) {
  Project p;
  p.write("tests/a_ok.test.lua", "test('fine', function(t) end)\n");
  p.write("tests/b_syntax.test.lua", "test('unfinished', function(t)\n");
  p.write("tests/c_ok.test.lua", "test('also fine', function(t) end)\n");
  auto r = list(p, {});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(lines_of(r.out).size(), 3u) << "stdout stays one path per line\n" << r.out;
  EXPECT_TRUE(contains(r.err, "provium: tests/b_syntax.test.lua:")) << r.err;

  r = list(p, {"--tests"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "    also fine")) << r.out;

  RunOutput jr;
  auto m = list_json(p, jr);
  EXPECT_EQ(jr.exit_code, 1) << jr.out << jr.err;
  ASSERT_EQ(m.size(), 3u) << jr.out;
  ASSERT_TRUE(m["b_syntax.test.lua"]["chunk_error"].is_string()) << jr.out;
  EXPECT_TRUE(
      contains(m["b_syntax.test.lua"]["chunk_error"].get<std::string>(), "b_syntax.test.lua:"))
      << jr.out;
  EXPECT_TRUE(m["a_ok.test.lua"]["chunk_error"].is_null()) << jr.out;
  EXPECT_EQ(m["c_ok.test.lua"]["tests"].size(), 1u) << jr.out;
}

TEST(ListSuite, FileScopeErrorFailsTestsAndJsonListings) {
  Project p;
  write_realistic_suite(p);  // broken.test.lua raises at file scope; it compiles
  EXPECT_EQ(list(p, {}).exit_code, 0) << "the plain listing does not evaluate files";
  EXPECT_EQ(list(p, {"--tests"}).exit_code, 1);
  EXPECT_EQ(list(p, {"--json"}).exit_code, 1);
  p.write("tests/broken.test.lua", "test('fixed', function(t) end)\n");
  EXPECT_EQ(list(p, {"--json"}).exit_code, 0);
  expect_nothing_ran(p);
}

TEST(ListSuite, FixtureWithSyntaxErrorFailsTheFixtureListing) {
  Project p;
  p.write("provium.toml", "[provium]\nroots = [\"tests\"]\n");
  p.write("tests/fixtures/bad.fixture.lua", "local vm = provium:vm(\"b\"\n");
  p.write("tests/fixtures/good.fixture.lua", "return nil\n");
  auto r = list(p, {"--fixtures"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  auto lines = lines_of(r.out);
  EXPECT_EQ(lines, (std::vector<std::string>{"fixtures/bad", "fixtures/good"})) << r.out;
  EXPECT_TRUE(contains(r.err, "bad.fixture.lua:")) << r.err;
}

TEST(ListSuite, HelpDocumentsTheExitCodes) {
  Project p;
  auto r = list(p, {"--help"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "Exit codes: 0 every file loaded; 1 some file failed to load"))
      << r.out;
}

TEST(ListSuite, EmptyProjectListsNothing) {
  Project p;
  auto r = list(p, {});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
}

}  // namespace
