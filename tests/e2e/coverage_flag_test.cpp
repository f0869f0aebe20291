// End-to-end checks of `provium --coverage` (REFERENCE §2.2, §2.5, §11.7): the post-run
// `provium-coverage --from <file>` step, its temp file and marker, and the user's
// --save-events file.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "events_test_util.hpp"

using namespace provium::e2e;
using namespace provium::e2e::obs;

namespace {

using std::chrono::seconds;

std::vector<std::string> coverage_leftovers(const fs::path& dir) {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator(dir)) {
    std::string n = e.path().filename().string();
    if (n.rfind("provium-coverage-", 0) == 0) out.push_back(n);
  }
  return out;
}

void write_suite(const Project& p) {
  p.write("a.test.lua", R"lua(test("one", {spec = "RFC 1"}, function(t) end)
test("two", {spec = "RFC 1"}, function(t) end)
test("three", function(t) end)
)lua");
}

TEST(CoverageFlag, RunsProviumCoverageAfterTheRun) {
  Project p;
  write_suite(p);
  auto r = p.run(suite_args({"--coverage"}), {{"PATH", path_with_build_dir()}}, seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "coverage by `spec`:")) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "  RFC 1: 2 tests (2 passed, 0 failed, 0 skipped)\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "  <unset>: 1 tests (1 passed, 0 failed, 0 skipped)\n")) << r.out;
  // The coverage report comes after the run's summary.
  EXPECT_LT(r.out.find("1 file(s); 3 passed"), r.out.find("coverage by")) << r.out;
}

TEST(CoverageFlag, FailingSuiteStillReportsCoverageAndExits1) {
  Project p;
  p.write("a.test.lua", "test('bad', {spec = 'X'}, function(t) t:fail('no') end)\n");
  auto r = p.run(suite_args({"--coverage"}), {{"PATH", path_with_build_dir()}}, seconds(30));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "  X: 1 tests (0 passed, 1 failed, 0 skipped)\n")) << r.out;
}

TEST(CoverageFlag, TempFileAndMarkerLiveInTmpdirDuringTheRunAndAreRemovedAfter) {
  Project p;
  fs::path tmp = p.dir() / "tmpdir";
  fs::create_directories(tmp);
  // The test body lists $TMPDIR while provium is running.
  p.write("a.test.lua", R"lua(test("sees temp file", {spec = "T"}, function(t)
  local h = io.popen("ls -a \"$TMPDIR\"")
  local listing = h:read("a")
  h:close()
  t:log(listing)
  t:assert(listing:find("provium%-coverage%-%d+%.msgpack\n") ~= nil, "no temp file: " .. listing)
  t:assert(listing:find("provium%-coverage%-%d+%.msgpack%.marker") ~= nil, "no marker: " .. listing)
end)
)lua");
  auto r = p.run(suite_args({"--coverage"}),
                 {{"PATH", path_with_build_dir()}, {"TMPDIR", tmp.string()}}, seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "  T: 1 tests (1 passed, 0 failed, 0 skipped)")) << r.out;
  EXPECT_EQ(coverage_leftovers(tmp), std::vector<std::string>{});
}

TEST(CoverageFlag, TempFileRemovedEvenWhenTheSuiteFails) {
  Project p;
  fs::path tmp = p.dir() / "tmpdir";
  fs::create_directories(tmp);
  p.write("a.test.lua", "error('file scope broke')\n");
  auto r = p.run(suite_args({"--coverage"}),
                 {{"PATH", path_with_build_dir()}, {"TMPDIR", tmp.string()}}, seconds(30));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(coverage_leftovers(tmp), std::vector<std::string>{});
}

TEST(CoverageFlag, SaveEventsFileIsReusedAndKept) {
  Project p;
  fs::path tmp = p.dir() / "tmpdir";
  fs::create_directories(tmp);
  write_suite(p);
  auto r = p.run(suite_args({"--coverage", "--save-events", "mine.msgpack"}),
                 {{"PATH", path_with_build_dir()}, {"TMPDIR", tmp.string()}}, seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "  RFC 1: 2 tests (2 passed, 0 failed, 0 skipped)\n")) << r.out;
  ASSERT_TRUE(fs::exists(p.dir() / "mine.msgpack"));
  auto frames = decode_frames(p, "mine.msgpack");
  EXPECT_EQ(of_kind(frames, "test_passed").size(), 3u);
  EXPECT_EQ(coverage_leftovers(tmp), std::vector<std::string>{}) << "no temp file needed";
}

// A stand-in provium-coverage first on PATH records how it is invoked, then fails.
void write_fake_tool(const Project& p, int exit_code) {
  p.write("fakebin/provium-coverage",
          "#!/bin/sh\n"
          "{ echo \"args=$*\"; echo \"tmp=$PROVIUM_COVERAGE_TMP\";"
          " echo \"user=$PROVIUM_COVERAGE_USER_FILE\";"
          " if [ -f \"$2\" ]; then echo from-exists; fi; } > \"$0.log\"\n"
          "exit " +
              std::to_string(exit_code) + "\n");
  fs::permissions(p.dir() / "fakebin/provium-coverage", fs::perms::owner_all);
}

TEST(CoverageFlag, ToolFailureMakesTheRunExit1) {
  Project p;
  write_suite(p);
  write_fake_tool(p, 5);
  auto r =
      p.run(suite_args({"--coverage"}),
            {{"PATH", (p.dir() / "fakebin").string() + ":" + path_with_build_dir()}}, seconds(30));
  EXPECT_EQ(r.exit_code, 1) << "all tests passed but the coverage step failed\n" << r.out << r.err;
  std::string log = p.read("fakebin/provium-coverage.log");
  EXPECT_TRUE(contains(log, "args=--from ")) << log;
  EXPECT_TRUE(contains(log, "from-exists")) << log;
  EXPECT_TRUE(contains(log, "tmp=/")) << "PROVIUM_COVERAGE_TMP must name the file\n" << log;
}

TEST(CoverageFlag, UserFileIsMarkedUserOwnedForTheTool) {
  Project p;
  write_suite(p);
  write_fake_tool(p, 0);
  fs::path mine = p.dir() / "mine.msgpack";
  auto r =
      p.run(suite_args({"--coverage", "--save-events", mine.string()}),
            {{"PATH", (p.dir() / "fakebin").string() + ":" + path_with_build_dir()}}, seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string log = p.read("fakebin/provium-coverage.log");
  EXPECT_TRUE(contains(log, "args=--from " + mine.string())) << log;
  EXPECT_TRUE(contains(log, "user=" + mine.string())) << log;
  EXPECT_TRUE(fs::exists(mine));
}

}  // namespace
