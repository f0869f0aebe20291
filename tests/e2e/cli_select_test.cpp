// End-to-end checks of file and test selection: --filter, --tag/--no-tag, --tag-meta/
// --no-tag-meta, meta.skip/meta.slow, --include-slow, --since and --rerun-failed, with the exact
// skip reasons of seed-meta-tags.txt and REFERENCE §2.4 / §2.8.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "json_support.hpp"

using namespace provium::e2e;

namespace {

// Outcome of one test: "passed" / "failed" / "skipped: <message>".
std::string outcome(const json& t) {
  std::string s = t.at("status").get<std::string>();
  if (s == "skipped")
    s += ": " +
         (t.at("message").is_string() ? t.at("message").get<std::string>() : std::string("<null>"));
  return s;
}

// name -> outcome across every file of a --json run.
std::map<std::string, std::string> outcomes(const RunOutput& r) {
  std::map<std::string, std::string> m;
  for (auto& f : json_lines(r.out))
    for (auto& t : f.at("tests")) m[t.at("name").get<std::string>()] = outcome(t);
  return m;
}

const char* kPassed = "passed";

}  // namespace

// ---- meta.skip and meta.slow --------------------------------------------------------------

TEST(CliSelect, MetaSkipForms) {
  Project p;
  p.write("tests/skip.test.lua",
          "test(\"skip true\", {skip = true}, function(t) error(\"ran\") end)\n"
          "test(\"skip int\", {skip = 1}, function(t) error(\"ran\") end)\n"
          "test(\"skip string\", {skip = \"see issue #42\"}, function(t) error(\"ran\") end)\n"
          "test(\"skip false\", {skip = false}, function(t) end)\n"
          "test(\"skip zero\", {skip = 0}, function(t) end)\n");
  auto r = suite(p, {"tests", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto m = outcomes(r);
  EXPECT_EQ(m["skip true"], "skipped: skipped (meta.skip)");
  EXPECT_EQ(m["skip int"], "skipped: skipped (meta.skip)");
  EXPECT_EQ(m["skip string"], "skipped: skipped: see issue #42");
  EXPECT_EQ(m["skip false"], kPassed);
  EXPECT_EQ(m["skip zero"], kPassed);
}

TEST(CliSelect, SlowTestsSkippedByDefault) {
  Project p;
  p.write("tests/slow.test.lua",
          "test(\"slow true\", {slow = true}, function(t) end)\n"
          "test(\"slow int\", {slow = 2}, function(t) end)\n"
          "test(\"slow zero\", {slow = 0}, function(t) end)\n"
          "test(\"fast\", function(t) end)\n");
  auto r = suite(p, {"tests", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto m = outcomes(r);
  EXPECT_EQ(m["slow true"], "skipped: filtered: slow tests skipped (pass --include-slow)");
  EXPECT_EQ(m["slow int"], "skipped: filtered: slow tests skipped (pass --include-slow)");
  EXPECT_EQ(m["slow zero"], kPassed);
  EXPECT_EQ(m["fast"], kPassed);

  r = suite(p, {"tests", "--json", "--include-slow"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  m = outcomes(r);
  EXPECT_EQ(m["slow true"], kPassed);
  EXPECT_EQ(m["slow int"], kPassed);
}

TEST(CliSelect, MetaSkipWinsOverSlow) {
  Project p;
  p.write("tests/a.test.lua",
          "test(\"both\", {skip = \"not yet\", slow = true}, function(t) error(\"ran\") end)\n");
  auto m = outcomes(suite(p, {"tests", "--json"}));
  EXPECT_EQ(m["both"], "skipped: skipped: not yet");
  m = outcomes(suite(p, {"tests", "--json", "--include-slow"}));
  EXPECT_EQ(m["both"], "skipped: skipped: not yet");
}

// ---- tags ----------------------------------------------------------------------------------

TEST(CliSelect, TagRunsOnlyMatchingTests) {
  Project p;
  p.write("tests/tags.test.lua",
          "test(\"net dns\", {tags = {\"net\", \"dns\"}}, function(t) end)\n"
          "test(\"single string\", {tags = \"smoke\"}, function(t) end)\n"
          "test(\"ipv6\", {tags = {\"ipv6\"}}, function(t) end)\n"
          "test(\"untagged\", function(t) end)\n");
  auto r = suite(p, {"tests", "--json", "--tag", "net", "--tag", "smoke"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto m = outcomes(r);
  EXPECT_EQ(m["net dns"], kPassed);
  EXPECT_EQ(m["single string"], kPassed);
  EXPECT_EQ(m["ipv6"], "skipped: filtered: did not match --tag");
  EXPECT_EQ(m["untagged"], "skipped: filtered: did not match --tag");
}

TEST(CliSelect, TagsMatchExactly) {
  Project p;
  p.write("tests/tags.test.lua",
          "test(\"network\", {tags = {\"network\"}}, function(t) end)\n"
          "test(\"NET\", {tags = {\"NET\"}}, function(t) end)\n");
  auto m = outcomes(suite(p, {"tests", "--json", "--tag", "net"}));
  EXPECT_EQ(m["network"], "skipped: filtered: did not match --tag");
  EXPECT_EQ(m["NET"], "skipped: filtered: did not match --tag");
}

TEST(CliSelect, NoTagSkipsAndWinsOverTag) {
  Project p;
  p.write("tests/tags.test.lua",
          "test(\"net dns\", {tags = {\"net\", \"dns\"}}, function(t) end)\n"
          "test(\"net only\", {tags = {\"net\"}}, function(t) end)\n"
          "test(\"single dns\", {tags = \"dns\"}, function(t) end)\n"
          "test(\"untagged\", function(t) end)\n");
  auto m = outcomes(suite(p, {"tests", "--json", "--no-tag", "dns"}));
  EXPECT_EQ(m["net dns"], "skipped: filtered: tagged `dns` (--no-tag)");
  EXPECT_EQ(m["single dns"], "skipped: filtered: tagged `dns` (--no-tag)");
  EXPECT_EQ(m["net only"], kPassed);
  EXPECT_EQ(m["untagged"], kPassed);

  m = outcomes(suite(p, {"tests", "--json", "--tag", "net", "--no-tag", "dns"}));
  EXPECT_EQ(m["net dns"], "skipped: filtered: tagged `dns` (--no-tag)");
  EXPECT_EQ(m["net only"], kPassed);
  EXPECT_EQ(m["untagged"], "skipped: filtered: did not match --tag");
}

TEST(CliSelect, SlowWinsOverNoTag) {
  // Precedence: meta.slow without --include-slow decides before --no-tag.
  Project p;
  p.write("tests/a.test.lua",
          "test(\"slow net\", {slow = true, tags = {\"net\"}}, function(t) end)\n");
  auto m = outcomes(suite(p, {"tests", "--json", "--no-tag", "net"}));
  EXPECT_EQ(m["slow net"], "skipped: filtered: slow tests skipped (pass --include-slow)");
  m = outcomes(suite(p, {"tests", "--json", "--no-tag", "net", "--include-slow"}));
  EXPECT_EQ(m["slow net"], "skipped: filtered: tagged `net` (--no-tag)");
}

// ---- --tag-meta / --no-tag-meta -----------------------------------------------------------

TEST(CliSelect, TagMetaOrWithinKeyAndAcrossKeys) {
  Project p;
  p.write("tests/meta.test.lua",
          "test(\"peinit boot\", {subsystems = {\"peinit\", \"net\"}, area = \"boot\"}, "
          "function(t) end)\n"
          "test(\"loregd boot\", {subsystems = {\"loregd\"}, area = \"boot\"}, function(t) end)\n"
          "test(\"peinit io\", {subsystems = {\"peinit\"}, area = \"io\"}, function(t) end)\n"
          "test(\"nothing\", function(t) end)\n");
  // OR within a key.
  auto m = outcomes(suite(p, {"tests", "--json", "--tag-meta", "subsystems=peinit", "--tag-meta",
                              "subsystems=loregd"}));
  EXPECT_EQ(m["peinit boot"], kPassed);
  EXPECT_EQ(m["loregd boot"], kPassed);
  EXPECT_EQ(m["peinit io"], kPassed);
  EXPECT_EQ(m["nothing"], "skipped: filtered: did not match --tag-meta subsystems");
  // AND across keys.
  m = outcomes(
      suite(p, {"tests", "--json", "--tag-meta", "subsystems=peinit", "--tag-meta", "area=boot"}));
  EXPECT_EQ(m["peinit boot"], kPassed);
  EXPECT_EQ(m["loregd boot"], "skipped: filtered: did not match --tag-meta subsystems");
  EXPECT_EQ(m["peinit io"], "skipped: filtered: did not match --tag-meta area");
}

TEST(CliSelect, TagMetaOnlyMatchesStringsAndArraysOfStrings) {
  Project p;
  p.write("tests/meta.test.lua",
          "test(\"string true\", {flaky = \"true\"}, function(t) end)\n"
          "test(\"bool true\", {flaky = true}, function(t) end)\n"
          "test(\"number\", {level = 3}, function(t) end)\n"
          "test(\"map\", {level = {x = \"3\"}}, function(t) end)\n");
  auto m = outcomes(suite(p, {"tests", "--json", "--tag-meta", "flaky=true"}));
  EXPECT_EQ(m["string true"], kPassed);
  EXPECT_EQ(m["bool true"], "skipped: filtered: did not match --tag-meta flaky");
  m = outcomes(suite(p, {"tests", "--json", "--tag-meta", "level=3"}));
  EXPECT_EQ(m["number"], "skipped: filtered: did not match --tag-meta level");
  EXPECT_EQ(m["map"], "skipped: filtered: did not match --tag-meta level");
}

TEST(CliSelect, TagMetaSplitsOnTheFirstEquals) {
  Project p;
  p.write("tests/meta.test.lua",
          "test(\"expr\", {expr = \"a=b\"}, function(t) end)\n"
          "test(\"other\", {expr = \"a\"}, function(t) end)\n");
  auto m = outcomes(suite(p, {"tests", "--json", "--tag-meta", "expr=a=b"}));
  EXPECT_EQ(m["expr"], kPassed);
  EXPECT_EQ(m["other"], "skipped: filtered: did not match --tag-meta expr");
}

TEST(CliSelect, NoTagMetaSkipsAndWinsOverTagMeta) {
  Project p;
  p.write("tests/meta.test.lua",
          "test(\"flaky peinit\", {flaky = \"true\", subsystems = {\"peinit\"}}, function(t) end)\n"
          "test(\"stable peinit\", {subsystems = {\"peinit\"}}, function(t) end)\n"
          "test(\"flaky array\", {flaky = {\"maybe\", \"true\"}}, function(t) end)\n");
  auto m = outcomes(suite(p, {"tests", "--json", "--no-tag-meta", "flaky=true"}));
  EXPECT_EQ(m["flaky peinit"], "skipped: filtered: meta flaky=true (--no-tag-meta)");
  EXPECT_EQ(m["flaky array"], "skipped: filtered: meta flaky=true (--no-tag-meta)");
  EXPECT_EQ(m["stable peinit"], kPassed);
  m = outcomes(suite(
      p, {"tests", "--json", "--tag-meta", "subsystems=peinit", "--no-tag-meta", "flaky=true"}));
  EXPECT_EQ(m["flaky peinit"], "skipped: filtered: meta flaky=true (--no-tag-meta)");
  EXPECT_EQ(m["stable peinit"], kPassed);
  EXPECT_EQ(m["flaky array"], "skipped: filtered: meta flaky=true (--no-tag-meta)");
}

TEST(CliSelect, TagWinsOverTagMetaInPrecedence) {
  // --tag decides before --tag-meta: a test failing both reports the --tag reason.
  Project p;
  p.write("tests/a.test.lua", "test(\"plain\", function(t) end)\n");
  auto m = outcomes(suite(p, {"tests", "--json", "--tag", "x", "--tag-meta", "k=v"}));
  EXPECT_EQ(m["plain"], "skipped: filtered: did not match --tag");
}

TEST(CliSelect, VerboseTextShowsSkipReasons) {
  Project p;
  p.write("tests/v.test.lua",
          "test(\"runs\", {tags = {\"net\"}}, function(t) end)\n"
          "test(\"excluded\", {tags = {\"dns\"}}, function(t) end)\n");
  auto r = suite(p, {"tests", "-v", "--no-tag", "dns"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out,
                       "PASS tests/v.test.lua (1 passed, 0 failed, 1 skipped)\n"
                       "    PASS runs\n"
                       "    SKIP excluded\n"
                       "        filtered: tagged `dns` (--no-tag)\n"))
      << r.out;
}

// ---- --filter -------------------------------------------------------------------------------

TEST(CliSelect, FilterIsASubstringOfTheRootRelativePath) {
  Project p;
  write_passing(p, "tests/net/partition.test.lua");
  write_passing(p, "tests/net/dns.test.lua");
  write_passing(p, "tests/storage/disk.test.lua");
  auto r = suite(p, {"tests", "--json", "--filter", "net/"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(paths_run(r),
            (std::set<std::string>{"tests/net/dns.test.lua", "tests/net/partition.test.lua"}));

  r = suite(p, {"tests", "--json", "--filter", "disk"});
  EXPECT_EQ(paths_run(r), (std::set<std::string>{"tests/storage/disk.test.lua"}));
}

TEST(CliSelect, FilterDoesNotSeeTheRootDirectory) {
  // The root `tests` is not part of a root-relative path, so nothing matches "tests/".
  Project p;
  write_passing(p, "tests/net/partition.test.lua");
  auto r = suite(p, {"tests", "--json", "--filter", "tests/"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(paths_run(r).size(), 0u) << r.out;
  EXPECT_TRUE(contains(r.out, "\"type\":\"no_files\"")) << r.out;
}

// ---- --since --------------------------------------------------------------------------------

TEST(CliSelect, SinceKeepsStrictlyNewerFiles) {
  Project p;
  auto ref = p.write("ref.stamp", "x");
  auto older = p.write("tests/older.test.lua", "test(\"a\", function(t) end)\n");
  auto same = p.write("tests/same.test.lua", "test(\"b\", function(t) end)\n");
  auto newer = p.write("tests/newer.test.lua", "test(\"c\", function(t) end)\n");
  auto t0 = fs::file_time_type::clock::now() - std::chrono::hours(1);
  fs::last_write_time(ref, t0);
  fs::last_write_time(older, t0 - std::chrono::minutes(5));
  fs::last_write_time(same, t0);
  fs::last_write_time(newer, t0 + std::chrono::minutes(5));
  auto r = suite(p, {"tests", "--json", "--since", "ref.stamp"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(paths_run(r), (std::set<std::string>{"tests/newer.test.lua"}));
}

TEST(CliSelect, SinceWithMissingReferenceIsExitTwo) {
  Project p;
  write_passing(p, "tests/a.test.lua");
  auto r = suite(p, {"tests", "--since", "no-such-file"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "--since")) << r.err;
  EXPECT_TRUE(contains(r.err, "no-such-file")) << r.err;
  EXPECT_FALSE(contains(r.out, "PASS")) << r.out;
}

// ---- --rerun-failed -------------------------------------------------------------------------

TEST(CliRerun, FailingRunWritesStateAsJsonArray) {
  Project p;
  write_passing(p, "tests/good.test.lua");
  p.write("tests/bad.test.lua", "test(\"x\", function(t) t:fail(\"no\") end)\n");
  auto r = suite(p, {"tests"});
  ASSERT_EQ(r.exit_code, 1) << r.out << r.err;
  ASSERT_TRUE(fs::exists(p.dir() / "rerun.json"));
  auto state = json::parse(p.read("rerun.json"));
  ASSERT_TRUE(state.is_array()) << state.dump();
  ASSERT_EQ(state.size(), 1u) << state.dump();
  EXPECT_EQ(state[0].get<std::string>(), fs::canonical(p.dir() / "tests/bad.test.lua").string());
  // Written through a temp file and a rename: nothing else is left next to it.
  for (auto& e : fs::directory_iterator(p.dir()))
    EXPECT_FALSE(contains(e.path().filename().string(), "rerun.json.")) << e.path();
}

TEST(CliRerun, EveryUncleanFileIsRecorded) {
  // "Some file not clean (failed test, chunk error, crash, timeout)": chunk errors and timeouts
  // count as failed files for --rerun-failed too.
  Project p;
  write_passing(p, "tests/good.test.lua");
  p.write("tests/chunk.test.lua", "error(\"boom\", 0)\n");
  p.write("tests/slow.test.lua",
          "test(\"stuck\", function(t)\n"
          "  wait_until(function() return false end, {timeout = \"10s\", interval = \"10ms\"})\n"
          "end)\n");
  auto r = suite(p, {"tests", "--timeout", "300ms"});
  ASSERT_EQ(r.exit_code, 1) << r.out << r.err;
  auto state = json::parse(p.read("rerun.json"));
  ASSERT_TRUE(state.is_array()) << state.dump();
  std::set<std::string> got;
  for (auto& e : state) got.insert(e.get<std::string>());
  EXPECT_EQ(got, (std::set<std::string>{fs::canonical(p.dir() / "tests/chunk.test.lua").string(),
                                        fs::canonical(p.dir() / "tests/slow.test.lua").string()}));
}

TEST(CliRerun, DefaultStatePathIsUnderHomeCache) {
  Project p;
  p.write("tests/bad.test.lua", "test(\"x\", function(t) t:fail(\"no\") end)\n");
  auto r = suite(p, {"tests"}, {{"PROVIUM_RERUN_STATE", std::nullopt}});
  ASSERT_EQ(r.exit_code, 1) << r.out << r.err;
  auto state_path = p.dir() / ".cache/provium/rerun.json";
  ASSERT_TRUE(fs::exists(state_path)) << "no state at ~/.cache/provium/rerun.json";
  auto state = json::parse(p.read(".cache/provium/rerun.json"));
  ASSERT_TRUE(state.is_array());
  EXPECT_EQ(state.size(), 1u);
}

TEST(CliRerun, CleanRunLeavesStateUntouched) {
  Project p;
  write_passing(p, "tests/good.test.lua");
  const std::string previous = "[\"/somewhere/else.test.lua\"]\n";
  auto state = p.write("rerun.json", previous);
  auto stamp = fs::file_time_type::clock::now() - std::chrono::hours(2);
  fs::last_write_time(state, stamp);
  auto r = suite(p, {"tests"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(p.read("rerun.json"), previous);
  EXPECT_EQ(fs::last_write_time(state), stamp);
}

TEST(CliRerun, NoStateIsANoticeAndExitZero) {
  Project p;
  p.write("tests/bad.test.lua", "test(\"x\", function(t) t:fail(\"no\") end)\n");
  auto r = suite(p, {"tests", "--rerun-failed"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_FALSE(r.err.empty());
  EXPECT_FALSE(contains(r.out, "FAIL")) << r.out;
}

TEST(CliRerun, RerunsOnlyTheFailedFiles) {
  Project p;
  write_passing(p, "tests/good.test.lua");
  p.write("tests/bad.test.lua",
          "test(\"x\", function(t) if not os.getenv(\"FIXED\") then t:fail(\"no\") end end)\n");
  auto r = suite(p, {"tests", "--json"});
  ASSERT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(paths_run(r).size(), 2u);

  r = suite(p, {"tests", "--json", "--rerun-failed"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(paths_run(r), (std::set<std::string>{"tests/bad.test.lua"}));

  // Once it passes, the clean run keeps the old state; --rerun-failed still picks that file.
  r = suite(p, {"tests", "--json", "--rerun-failed"}, {{"FIXED", "1"}});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(paths_run(r), (std::set<std::string>{"tests/bad.test.lua"}));
}

TEST(CliRerun, IntersectsWithOtherSelection) {
  Project p;
  p.write("tests/a/one.test.lua", "test(\"x\", function(t) t:fail(\"no\") end)\n");
  p.write("tests/b/two.test.lua", "test(\"x\", function(t) t:fail(\"no\") end)\n");
  write_passing(p, "tests/a/three.test.lua");
  ASSERT_EQ(suite(p, {"tests"}).exit_code, 1);
  const std::string state = p.read("rerun.json");
  auto r = suite(p, {"tests", "--json", "--rerun-failed", "--filter", "a/"});
  EXPECT_EQ(paths_run(r), (std::set<std::string>{"tests/a/one.test.lua"}));
  // A recorded file that is not among the given paths does not run. (The run above failed
  // again and rewrote the state; put the original back.)
  p.write("rerun.json", state);
  r = suite(p, {"tests/b", "--json", "--rerun-failed"});
  EXPECT_EQ(paths_run(r), (std::set<std::string>{"tests/b/two.test.lua"}));
}

// ---- PROVIUM_TEST_FILTER ------------------------------------------------------------------

TEST(CliEnv, TestFilterVariableDoesNotReachChildren) {
  Project p;
  p.write("tests/env.test.lua",
          "test(\"child env\", function(t)\n"
          "  local f = io.popen(\"printf '%s' \\\"${PROVIUM_TEST_FILTER-unset}\\\"\")\n"
          "  local v = f:read(\"a\")\n"
          "  f:close()\n"
          "  t:assert_eq(v, \"unset\")\n"
          "end)\n");
  // A stale variable in the caller's environment neither filters tests (ours passes filters
  // in-process) nor leaks into processes the tests start.
  auto r = suite(p, {"tests", "--include-slow", "--json"},
                 {{"PROVIUM_TEST_FILTER", "{\"tag\":[\"stale\"]}"}});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(outcomes(r)["child env"], kPassed) << r.out;
}
