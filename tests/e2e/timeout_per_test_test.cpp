// End-to-end tests of per-test timeouts (REFERENCE §4.7, §10.7; seed-meta-tags.txt meta.timeout):
// meta.timeout and provium.timeout interrupt busy loops, pcall loops and blocking waits; the
// test fails with `test timed out after <dur>` and the following tests still run.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "json_support.hpp"

using namespace provium::e2e;
using std::chrono::steady_clock;

namespace {

// A timed-out test: failed, with `test timed out after <dur>` naming one of the spellings of
// the configured duration.
void expect_timed_out(const json& f, const std::string& name,
                      const std::vector<std::string>& durations) {
  auto t = test_of(f, name);
  ASSERT_TRUE(t.is_object()) << "no test `" << name << "` in " << f.dump();
  EXPECT_EQ(t["status"], "failed") << t.dump();
  std::string m = message(t);
  EXPECT_NE(m.find("test timed out after "), std::string::npos) << name << ": " << m;
  bool named = false;
  for (auto& d : durations) named |= m.find("test timed out after " + d) != std::string::npos;
  EXPECT_TRUE(named) << name << ": `" << m << "` does not name the duration";
}

// Runs the project with --json and checks: exit 1, no crash, the file is in time (a per-test
// timeout is not a file timeout), and the whole run took less than `limit`.
json run_timed(Project& p, const std::string& file, std::chrono::seconds limit,
               RunOutput* out = nullptr) {
  auto start = steady_clock::now();
  auto r = p.run({"--json"}, {}, std::chrono::seconds(60));
  auto took = steady_clock::now() - start;
  EXPECT_LT(took, limit) << dump(r);
  EXPECT_EQ(r.exit_code, 1) << dump(r);
  EXPECT_EQ(r.signal, 0) << dump(r);
  auto f = file_of(r, file);
  EXPECT_TRUE(f.is_object()) << dump(r);
  if (f.is_object()) {
    EXPECT_EQ(f["timeout"], "in_time") << dump(r);
    EXPECT_TRUE(f["chunk_error"].is_null()) << dump(r);
  }
  if (out) *out = r;
  return f;
}

}  // namespace

TEST(TimeoutPerTest, BusyLoopIsInterruptedAndNextTestRuns) {
  Project p;
  p.write("spin.test.lua", R"lua(
test("spin", {timeout = 0.3}, function(t) while true do end end)
test("after", function(t) t:log("ran") end)
)lua");
  RunOutput r;
  auto f = run_timed(p, "spin.test.lua", std::chrono::seconds(8), &r);
  expect_timed_out(f, "spin", {"300ms", "0.3s"});
  auto after = test_of(f, "after");
  EXPECT_EQ(after["status"], "passed") << dump(r);
  EXPECT_EQ(after["log"], json::array({"ran"})) << dump(r);
}

TEST(TimeoutPerTest, DurationStringTimeout) {
  Project p;
  p.write("spin.test.lua", R"lua(
test("spin", {timeout = "250ms"}, function(t)
  local x = 0
  while true do x = x + 1 end
end)
test("after", function(t) end)
)lua");
  auto f = run_timed(p, "spin.test.lua", std::chrono::seconds(8));
  expect_timed_out(f, "spin", {"250ms", "0.25s"});
  EXPECT_EQ(test_of(f, "after")["status"], "passed");
}

TEST(TimeoutPerTest, PcallCannotSwallowTheTimeout) {
  Project p;
  p.write("pcall.test.lua", R"lua(
test("pcall loop", {timeout = "300ms"}, function(t)
  while true do
    pcall(function() while true do end end)
  end
end)
test("tight pcall loop", {timeout = "300ms"}, function(t)
  while true do pcall(function() end) end
end)
test("caught then returns", {timeout = "300ms"}, function(t)
  local ok, err = pcall(function() while true do end end)
  t:log("caught: " .. tostring(ok))
end)
test("after", function(t) t:log("ran") end)
)lua");
  RunOutput r;
  auto f = run_timed(p, "pcall.test.lua", std::chrono::seconds(10), &r);
  expect_timed_out(f, "pcall loop", {"300ms", "0.3s"});
  expect_timed_out(f, "tight pcall loop", {"300ms", "0.3s"});
  auto caught = test_of(f, "caught then returns");
  EXPECT_EQ(caught["status"], "failed") << dump(r);
  EXPECT_NE(message(caught).find("test timed out after"), std::string::npos) << dump(r);
  EXPECT_EQ(test_of(f, "after")["status"], "passed") << dump(r);
}

TEST(TimeoutPerTest, BlockingWaitsAreInterrupted) {
  Project p;
  p.write("wait.test.lua", R"lua(
test("long wait_until", {timeout = "300ms"}, function(t)
  wait_until(function() return false end, {timeout = "60s", desc = "never"})
end)
test("long interval", {timeout = "300ms"}, function(t)
  wait_until(function() return false end, {timeout = "60s", interval = "30s"})
end)
test("after", function(t) end)
)lua");
  RunOutput r;
  auto f = run_timed(p, "wait.test.lua", std::chrono::seconds(8), &r);
  expect_timed_out(f, "long wait_until", {"300ms", "0.3s"});
  EXPECT_EQ(message(test_of(f, "long wait_until")).find("wait_until: never"), std::string::npos)
      << dump(r);
  expect_timed_out(f, "long interval", {"300ms", "0.3s"});
  EXPECT_EQ(test_of(f, "after")["status"], "passed") << dump(r);
}

TEST(TimeoutPerTest, FileDefaultAppliesAndMetaWins) {
  Project p;
  p.write("default.test.lua", R"lua(
provium.timeout = "300ms"
test("uses file default", function(t) while true do end end)
test("meta wins", {timeout = "10s"}, function(t)
  -- Busy for about 0.7 s: longer than the file default, shorter than meta.timeout.
  pcall(wait_until, function() return false end, {timeout = "700ms", interval = "50ms"})
  t:log("finished")
end)
test("meta shorter than default", {timeout = "200ms"}, function(t) while true do end end)
test("after", function(t) end)
)lua");
  RunOutput r;
  auto f = run_timed(p, "default.test.lua", std::chrono::seconds(10), &r);
  expect_timed_out(f, "uses file default", {"300ms", "0.3s"});
  auto wins = test_of(f, "meta wins");
  EXPECT_EQ(wins["status"], "passed") << dump(r);
  EXPECT_EQ(wins["log"], json::array({"finished"})) << dump(r);
  expect_timed_out(f, "meta shorter than default", {"200ms", "0.2s"});
  EXPECT_EQ(test_of(f, "after")["status"], "passed") << dump(r);
}

TEST(TimeoutPerTest, NumberFileDefault) {
  Project p;
  p.write("num.test.lua", R"lua(
provium.timeout = 0.25
test("spin", function(t) while true do end end)
test("quick", function(t) end)
)lua");
  auto f = run_timed(p, "num.test.lua", std::chrono::seconds(8));
  expect_timed_out(f, "spin", {"250ms", "0.25s"});
  EXPECT_EQ(test_of(f, "quick")["status"], "passed");
}

TEST(TimeoutPerTest, ScopesAreTornDownAndFileScopeSurvives) {
  Project p;
  p.write("provium.toml", "[profiles.p]\nkernel = \"/nonexistent\"\ncmdline = \"console=ttyS0\"\n");
  p.write("scope.test.lua", R"lua(
local a = provium:vm("a", "p")
test("spin with a test-scope vm", {timeout = "300ms"}, function(t)
  provium:vm("b", "p")
  while true do end
end)
test("after", function(t)
  t:assert_eq(provium:name(), "test:after")
  t:assert_eq(tostring(provium:vm("a")), "vm(a state=created cid=-)")
  t:assert_eq(#provium:vm_names(), 0)
  provium:vm("b", "p")
end)
)lua");
  RunOutput r;
  auto f = run_timed(p, "scope.test.lua", std::chrono::seconds(8), &r);
  expect_timed_out(f, "spin with a test-scope vm", {"300ms", "0.3s"});
  EXPECT_EQ(test_of(f, "after")["status"], "passed") << dump(r);
}

TEST(TimeoutPerTest, TimedOutTestInPlainText) {
  Project p;
  p.write("spin.test.lua", "test(\"spin\", {timeout = 0.2}, function() while true do end end)\n");
  auto r = p.run({});
  EXPECT_EQ(r.exit_code, 1) << dump(r);
  EXPECT_NE(r.out.find("FAIL spin.test.lua (0 passed, 1 failed, 0 skipped)"), std::string::npos)
      << dump(r);
  EXPECT_NE(r.out.find("test timed out after"), std::string::npos) << dump(r);
  EXPECT_EQ(r.out.find("TIME "), std::string::npos) << "a per-test timeout is not a file timeout\n"
                                                    << dump(r);
}
