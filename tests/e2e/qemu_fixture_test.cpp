// Fixtures under QEMU (REFERENCE §8): the first use builds, later uses (same run, later run)
// restore from the cache; changing the fixture's inputs makes `fixture stale` list it and the
// next run rebuild it; damaged entries are rebuilt; export/import carries entries between
// caches; concurrent runs build once; bad fixtures fail with their own error.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "events_test_util.hpp"
#include "qemu_support.hpp"

using namespace provium::e2e;
using namespace provium::e2e::obs;

namespace {

constexpr const char* kBaseFixture = R"lua(
local util = require("helpers.util")
local vm = provium:vm("b", "linux", {memory = "256M"})
vm:boot()
vm:push_file("../data.txt", "/tmp/data")
vm:write_file("/tmp/marker", util.marker)
return vm:snapshot()
)lua";

constexpr const char* kUserTest = R"lua(
local vm = vm_fixture("fixtures/base")
test("restored from the fixture", function(t)
  t:assert_eq(vm:read_file("/tmp/marker"), "v1")
  t:assert_eq(vm:name(), "fixture:fixtures_base")
  t:assert_eq(vm:state(), "booted")
  local again = vm_fixture("fixtures/base")
  t:assert_eq(again:name(), "fixture:fixtures_base#2")
  t:assert_eq(again:read_file("/tmp/data"), vm:read_file("/tmp/data"))
end)
)lua";

size_t count_kind(const std::vector<ojson>& frames, const std::string& kind) {
  return of_kind(frames, kind).size();
}

fs::path only_snap(const Project& p) {
  for (auto& e : fs::directory_iterator(p.dir() / ".cache/provium/fixtures"))
    if (e.path().extension() == ".snap") return e.path();
  return {};
}

}  // namespace

TEST(QemuFixture, BuildsOnceRestoresAfterAndRebuildsWhenInputsChange) {
  Project p;
  p.write("provium.toml", linux_profile_toml());
  p.write("helpers/util.lua", "return {marker = 'v1'}\n");
  p.write("data.txt", "d1");
  p.write("fixtures/base.fixture.lua", kBaseFixture);
  p.write("a.test.lua", kUserTest);

  // First run: one build; the second use in the same run is a cache hit.
  auto r = run_qemu(p, {"-v", "--save-events", "ev1.bin", "a.test.lua"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto ev = decode_frames(p, "ev1.bin");
  EXPECT_EQ(count_kind(ev, "fixture_build_started"), 1u);
  ASSERT_EQ(count_kind(ev, "fixture_build_done"), 1u);
  EXPECT_GT(of_kind(ev, "fixture_build_done")[0]["payload"]["snapshot_bytes"].get<std::uint64_t>(),
            1000u);
  EXPECT_EQ(str_or(of_kind(ev, "fixture_build_started")[0]["payload"], "path"), "fixtures/base");
  EXPECT_EQ(count_kind(ev, "fixture_cache_hit"), 1u);

  // A later run restores: a hit for each use, no build.
  r = run_qemu(p, {"--save-events", "ev2.bin", "a.test.lua"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ev = decode_frames(p, "ev2.bin");
  EXPECT_EQ(count_kind(ev, "fixture_build_started"), 0u);
  EXPECT_EQ(count_kind(ev, "fixture_cache_hit"), 2u);

  r = run_qemu(p, {"fixture", "stale"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "0 stale fixture(s)")) << r.out;
  r = run_qemu(p, {"fixture", "list"});
  EXPECT_TRUE(contains(r.out, "1 entry,")) << r.out;
  EXPECT_TRUE(contains(r.out, "fixtures/base")) << r.out;
  r = run_qemu(p, {"fixture", "build", "fixtures/base"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "already built: fixtures/base")) << r.out;

  // A pushed host file changes: stale lists it, the next run rebuilds.
  p.write("data.txt", "d2");
  r = run_qemu(p, {"fixture", "stale"});
  EXPECT_TRUE(contains(r.out, "fixtures/base.fixture.lua")) << r.out;
  EXPECT_TRUE(contains(r.out, "1 stale fixture(s)")) << r.out;
  r = run_qemu(p, {"--save-events", "ev3.bin", "a.test.lua"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(count_kind(decode_frames(p, "ev3.bin"), "fixture_build_started"), 1u);

  // A required helper, the fixture's source, the profile: each makes it stale.
  p.write("helpers/util.lua", "return {marker = 'v1'} -- edited\n");
  r = run_qemu(p, {"fixture", "stale"});
  EXPECT_TRUE(contains(r.out, "1 stale fixture(s)")) << "helper edit: " << r.out;
  p.write("helpers/util.lua", "return {marker = 'v1'}\n");
  r = run_qemu(p, {"fixture", "stale"});
  EXPECT_TRUE(contains(r.out, "0 stale fixture(s)")) << "helper restored: " << r.out;
  p.write("provium.toml", linux_profile_toml() + "cmdline_file = \"extra.txt\"\n");
  p.write("extra.txt", "");
  r = run_qemu(p, {"fixture", "stale"});
  EXPECT_TRUE(contains(r.out, "1 stale fixture(s)")) << "profile edit: " << r.out;
  p.write("provium.toml", linux_profile_toml());

  // From a clean cache with one entry: a truncated entry is noticed, evicted and rebuilt
  // with a warning.
  r = run_qemu(p, {"fixture", "clean"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = run_qemu(p, {"a.test.lua"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  fs::path snap = only_snap(p);
  ASSERT_FALSE(snap.empty());
  fs::resize_file(snap, fs::file_size(snap) / 2);
  r = run_qemu(p, {"--save-events", "ev4.bin", "a.test.lua"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "is damaged")) << r.err;
  EXPECT_EQ(count_kind(decode_frames(p, "ev4.bin"), "fixture_build_started"), 1u);

  // Same size, garbage inside: the restore fails, the entry is evicted and built again.
  snap = only_snap(p);
  {
    std::fstream f(snap, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(snap) / 2));
    std::string junk(4096, 'x');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  r = run_qemu(p, {"--save-events", "ev5.bin", "a.test.lua"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "could not be restored")) << r.err;
  EXPECT_EQ(count_kind(decode_frames(p, "ev5.bin"), "fixture_build_started"), 1u);

  // Export, wipe, import: the entry is back and verified; a damaged archive is refused.
  r = run_qemu(p, {"fixture", "export", "fx.tar"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = run_qemu(p, {"fixture", "clean"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = run_qemu(p, {"fixture", "import", "fx.tar"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "imported 1 entry")) << r.out;
  r = run_qemu(p, {"fixture", "build", "fixtures/base"});
  EXPECT_TRUE(contains(r.out, "already built: fixtures/base")) << r.out << r.err;
  {
    auto size = fs::file_size(p.dir() / "fx.tar");
    std::fstream f(p.dir() / "fx.tar", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 2));
    f.write("garbage!", 8);
  }
  r = run_qemu(p, {"fixture", "clean"});
  r = run_qemu(p, {"fixture", "import", "fx.tar"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "nothing was imported")) << r.err;
  r = run_qemu(p, {"fixture", "list"});
  EXPECT_TRUE(contains(r.out, "0 entries")) << r.out;
}

TEST(QemuFixture, ConcurrentRunsBuildOnceAndLabFixturesRestoreTheirTopology) {
  Project p;
  // Fixture names resolve in the configured roots, not in the directories given on the CLI.
  p.write("provium.toml", "[provium]\nroots = [\".\"]\n" + linux_profile_toml());
  p.write("fixtures/pair.fixture.lua", R"lua(
local a = provium:vm("a", "linux", {memory = "256M"})
local b = provium:vm("b", "linux", {memory = "256M"})
provium:boot()
a:write_file("/tmp/who", "a"); b:write_file("/tmp/who", "b")
return provium:snapshot()
)lua");
  std::string user = R"lua(
local pair = lab_fixture("fixtures/pair")
test("lab fixture", function(t)
  t:assert_eq(pair.a:read_file("/tmp/who"), "a")
  t:assert_eq(pair.b:read_file("/tmp/who"), "b")
  t:assert_contains(t:assert_raises(function() vm_fixture("fixtures/pair") end),
                    "is a lab fixture")
end)
)lua";
  p.write("one/x.test.lua", user);
  p.write("two/y.test.lua", user);
  RunOutput r1, r2;
  std::thread t1([&] { r1 = run_qemu(p, {"--save-events", "e1.bin", "one"}, 400); });
  std::thread t2([&] { r2 = run_qemu(p, {"--save-events", "e2.bin", "two"}, 400); });
  t1.join();
  t2.join();
  ASSERT_EQ(r1.exit_code, 0) << r1.out << r1.err;
  ASSERT_EQ(r2.exit_code, 0) << r2.out << r2.err;
  auto e1 = decode_frames(p, "e1.bin"), e2 = decode_frames(p, "e2.bin");
  EXPECT_EQ(count_kind(e1, "fixture_build_started") + count_kind(e2, "fixture_build_started"), 1u);
  // The one that did not build waited for the other and used its entry.
  EXPECT_EQ(count_kind(e1, "fixture_build_waiting") + count_kind(e2, "fixture_build_waiting"), 1u);
  auto r = run_qemu(p, {"fixture", "list"});
  EXPECT_TRUE(contains(r.out, " lab ")) << r.out;
  EXPECT_TRUE(contains(r.out, "1 entry,")) << r.out;
}

TEST(QemuFixture, BadFixturesFailWithTheirOwnError) {
  Project p;
  p.write("provium.toml", linux_profile_toml());
  p.write("fixtures/err.fixture.lua", "local x = 1\nerror('boom in fixture')\n");
  p.write("fixtures/wrong.fixture.lua", "return 42\n");
  p.write("fixtures/self.fixture.lua", "return vm_fixture('fixtures/self')\n");
  p.write("fixtures/loop_a.fixture.lua", "return vm_fixture('fixtures/loop_b')\n");
  p.write("fixtures/loop_b.fixture.lua", "return vm_fixture('fixtures/loop_a')\n");
  p.write("bad.test.lua", R"lua(
test("erroring fixture", function(t) vm_fixture("fixtures/err") end)
test("same error again", function(t) vm_fixture("fixtures/err") end)
test("wrong return", function(t) vm_fixture("fixtures/wrong") end)
test("itself", function(t) vm_fixture("fixtures/self") end)
test("loop", function(t) vm_fixture("fixtures/loop_a") end)
test("missing", function(t) vm_fixture("fixtures/nope") end)
)lua");
  auto r = run_qemu(p, {"--save-events", "ev.bin", "bad.test.lua"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  auto ev = decode_frames(p, "ev.bin");
  std::map<std::string, std::string> reason;
  for (auto& f : of_kind(ev, "test_failed"))
    reason[str_or(f["payload"], "name")] = str_or(f["payload"], "reason");
  EXPECT_TRUE(contains(reason["erroring fixture"], "fixture `fixtures/err` failed to build"))
      << reason["erroring fixture"];
  EXPECT_TRUE(contains(reason["erroring fixture"], "err.fixture.lua:2: boom in fixture"))
      << reason["erroring fixture"];
  EXPECT_EQ(reason["same error again"], reason["erroring fixture"]);
  EXPECT_TRUE(contains(reason["wrong return"], "returned number")) << reason["wrong return"];
  EXPECT_TRUE(contains(reason["itself"], "references itself")) << reason["itself"];
  EXPECT_TRUE(contains(reason["loop"], "fixtures/loop_a → fixtures/loop_b → fixtures/loop_a"))
      << reason["loop"];
  EXPECT_TRUE(contains(reason["missing"], "fixture `fixtures/nope` not found in any test root"))
      << reason["missing"];
  // Only the erroring and the wrong fixture ever started building, each once.
  EXPECT_EQ(of_kind(ev, "fixture_build_started").size(), 2u);
  EXPECT_EQ(of_kind(ev, "fixture_build_done").size(), 2u);
  for (auto& f : fs::directory_iterator(p.dir() / ".cache/provium/fixtures")) {
    if (f.path().filename().string().starts_with(".")) continue;  // .staging, .file-memo.json
    EXPECT_FALSE(f.path().extension() == ".snap" || f.path().extension() == ".json")
        << "no entry for a failed build: " << f.path();
  }
}

TEST(QemuFixture, ReplResumesFromAFixture) {
  Project p;
  p.write("provium.toml", linux_profile_toml());
  p.write("fixtures/ready.fixture.lua", R"lua(
local vm = provium:vm("r", "linux", {memory = "256M"})
vm:boot()
vm:write_file("/tmp/prepared", "yes")
return vm:snapshot()
)lua");
  auto env =
      environment_with({{"PROVIUM_BUILD_DIR", PROVIUM_GUEST_CACHE}, {"HOME", p.dir().string()}});
  // No profile argument: the first profile by name is used.
  auto r = run_program({provium_bin(), "repl", "--fixture", "fixtures/ready"}, p.dir(), env,
                       "repl:read_file('/tmp/prepared')\nvm:name()\n", std::chrono::seconds(240));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "yes\n")) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "fixture:fixtures_ready\n")) << r.out;
  r = run_program({provium_bin(), "repl", "--fixture", "fixtures/none"}, p.dir(), env, "",
                  std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "fixture `fixtures/none` not found in any test root")) << r.err;
}

TEST(QemuFixture, ResetBetweenTestsRestoresTheFileBaseline) {
  Project p;
  p.write("provium.toml", linux_profile_toml());
  p.write("reset.test.lua", R"lua(
provium.reset_between_tests = true
local vm = provium:vm("a", "linux", {memory = "256M"})
vm:boot()
vm:write_file("/tmp/base", "b")
test("changes the guest", function(t)
  vm:write_file("/tmp/x", "1")
  vm:write_file("/tmp/base", "changed")
end)
test("sees the baseline again", function(t)
  t:assert(not pcall(vm.read_file, vm, "/tmp/x"), "/tmp/x is gone")
  t:assert_eq(vm:read_file("/tmp/base"), "b")
  vm:shutdown()
end)
test("even after a shutdown", function(t)
  t:assert_eq(vm:state(), "booted")
  t:assert_eq(vm:read_file("/tmp/base"), "b")
end)
)lua");
  p.write("stream.test.lua", R"lua(
provium.reset_between_tests = true
local vm = provium:vm("s", "linux", {memory = "256M"})
vm:boot()
vm:write_file("/tmp/f", "x")
local s = vm:tail_file("/tmp/f")
test("never runs", function(t) end)
)lua");
  auto r = run_qemu(p, {"-v", "."});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "PASS reset.test.lua (3 passed")) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "live streams")) << r.out;
  EXPECT_TRUE(contains(r.out, "tail_file(\"/tmp/f\") at stream.test.lua:6")) << r.out;
}

TEST(QemuFixture, ReadOnlyOrFullCacheFailsClearly) {
  Project p;
  p.write("provium.toml", "[provium]\ncache_dir = \"cache\"\n" + linux_profile_toml());
  p.write("fixtures/base.fixture.lua", kBaseFixture);
  p.write("helpers/util.lua", "return {marker = 'v1'}\n");
  p.write("data.txt", "d1");
  p.write("a.test.lua", kUserTest);
  fs::create_directories(p.dir() / "cache");
  auto env =
      environment_with({{"PROVIUM_BUILD_DIR", PROVIUM_GUEST_CACHE}, {"HOME", p.dir().string()}});
  // Root ignores permission bits, so the cache is a read-only (or tiny) tmpfs in a private
  // mount namespace.
  auto in_mount = [&](const std::string& opts) {
    return run_program(
        {"unshare", "-m", "sh", "-c",
         "mount -t tmpfs -o " + opts + " none cache && exec \"$0\" a.test.lua", provium_bin()},
        p.dir(), env, "", std::chrono::seconds(240));
  };
  auto r = in_mount("ro");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "(Read-only file system); point cache_dir in provium.toml"))
      << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "PROVIUM_FIXTURE_CACHE")) << r.out;
  r = in_mount("size=1m");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "failed to build")) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "No space left on device")) << r.out << r.err;
}
