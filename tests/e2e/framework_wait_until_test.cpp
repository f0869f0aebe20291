// End-to-end tests of wait_until and duration parsing (REFERENCE §4.6, §4.8).
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "json_support.hpp"

using namespace provium::e2e;

TEST(FrameworkWaitUntil, ReturnsFirstTruthyValue) {
  Project p;
  p.write("wu.test.lua", R"lua(
test("third call wins", function(t)
  local calls = 0
  local v = wait_until(function()
    calls = calls + 1
    if calls >= 3 then return "v" .. calls end
    return calls == 1 and false or nil
  end, {timeout = "5s", interval = "10ms"})
  t:assert_eq(v, "v3")
  t:assert_eq(calls, 3)
end)
test("table value returned as is", function(t)
  local want = {x = 1}
  local got = wait_until(function() return want end)
  t:assert(got == want, "not the same table")
end)
test("zero is truthy", function(t)
  t:assert_eq(wait_until(function() return 0 end, {timeout = 1}), 0)
end)
)lua");
  expect_all_passed(p.run({"--json"}), "wu.test.lua");
}

TEST(FrameworkWaitUntil, TimeoutMessage) {
  Project p;
  p.write("wu.test.lua", R"lua(
local function never() return false end
test("with desc", function(t)
  local e = t:assert_raises(function()
    wait_until(never, {timeout = "200ms", interval = "50ms", desc = "the thing"})
  end)
  t:assert_contains(e, "wait_until: the thing not met within 0.2s")
end)
test("default desc", function(t)
  local e = t:assert_raises(function() wait_until(never, {timeout = 0.1, interval = 0.02}) end)
  t:assert_contains(e, "wait_until: condition not met within 0.1s")
end)
test("whole seconds", function(t)
  local e = t:assert_raises(function() wait_until(never, {timeout = 1, interval = 0.25}) end)
  t:assert_contains(e, "not met within 1s")
end)
test("points at caller", function(t)
  local e = t:assert_raises(function()
    wait_until(never, {timeout = "10ms"})
  end)
  t:assert_contains(e, "wu.test.lua:19:")
end)
)lua");
  auto start = std::chrono::steady_clock::now();
  auto r = p.run({"--json"});
  auto took = std::chrono::steady_clock::now() - start;
  expect_all_passed(r, "wu.test.lua");
  // It really waited (0.2 + 0.1 + 1 s) but did not use the 10 s default.
  EXPECT_GE(took, std::chrono::milliseconds(1250));
  EXPECT_LT(took, std::chrono::seconds(8));
}

TEST(FrameworkWaitUntil, UnmetWaitFailsTheTest) {
  Project p;
  p.write("wu.test.lua", R"lua(
test("unmet", function(t)
  wait_until(function() return nil end, {timeout = "100ms", interval = "20ms", desc = "port open"})
end)
test("next runs", function(t) end)
)lua");
  auto r = p.run({"--json"});
  EXPECT_EQ(r.exit_code, 1) << dump(r);
  auto f = file_of(r, "wu.test.lua");
  auto t = test_of(f, "unmet");
  EXPECT_EQ(t["status"], "failed") << dump(r);
  EXPECT_NE(t.value("message", json()).dump().find("wait_until: port open not met within 0.1s"),
            std::string::npos)
      << dump(r);
  EXPECT_EQ(test_of(f, "next runs")["status"], "passed") << dump(r);
}

TEST(FrameworkWaitUntil, PredicateErrorPropagatesImmediately) {
  Project p;
  p.write("wu.test.lua", R"lua(
test("no retry", function(t)
  local calls = 0
  local e = t:assert_raises(function()
    wait_until(function()
      calls = calls + 1
      error("predicate broke", 0)
    end, {timeout = "20s", interval = "10ms"})
  end)
  t:assert_eq(e, "predicate broke")
  t:assert_eq(calls, 1)
end)
test("uncaught predicate error fails the test", function(t)
  wait_until(function() error("deep failure") end, {timeout = "20s"})
end)
)lua");
  auto start = std::chrono::steady_clock::now();
  auto r = p.run({"--json"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(8));
  EXPECT_EQ(r.exit_code, 1) << dump(r);
  auto f = file_of(r, "wu.test.lua");
  EXPECT_EQ(test_of(f, "no retry")["status"], "passed") << dump(r);
  auto t = test_of(f, "uncaught predicate error fails the test");
  EXPECT_EQ(t["status"], "failed") << dump(r);
  EXPECT_NE(t["message"].dump().find("deep failure"), std::string::npos) << dump(r);
}

TEST(FrameworkWaitUntil, MalformedDurationsNameTheInput) {
  Project p;
  p.write("wu.test.lua", R"lua(
local function yes() return true end
local function raises(t, opts)
  return t:assert_raises(function() wait_until(yes, opts) end)
end
test("unknown suffix", function(t)
  t:assert_contains(raises(t, {timeout = "5parsecs"}), "5parsecs")
end)
test("garbage interval", function(t)
  t:assert_contains(raises(t, {interval = "soonish"}), "soonish")
end)
test("negative", function(t)
  t:assert_contains(raises(t, {timeout = -1}), "-1")
end)
test("negative string", function(t)
  t:assert_contains(raises(t, {timeout = "-2s"}), "-2s")
end)
test("nan and infinity", function(t)
  raises(t, {timeout = 0/0})
  raises(t, {timeout = math.huge})
end)
test("not a duration type", function(t)
  raises(t, {timeout = {}})
end)
test("negative interval", function(t)
  t:assert_contains(raises(t, {interval = -0.5}), "-0.5")
end)
test("unknown unit", function(t)
  t:assert_contains(raises(t, {timeout = "5d"}), "5d")
end)
test("predicate must be a function", function(t)
  t:assert_raises(function() wait_until(nil) end)
  t:assert_raises(function() wait_until("nope") end)
end)
test("options must be a table", function(t)
  t:assert_raises(function() wait_until(yes, "5s") end)
end)
)lua");
  expect_all_passed(p.run({"--json"}), "wu.test.lua");
}

TEST(FrameworkWaitUntil, DurationStringsAreAccepted) {
  Project p;
  p.write("wu.test.lua", R"lua(
local function yes() return "ok" end
test("forms", function(t)
  for _, d in ipairs({"500ms", "1.5s", "30s", "10m", "2h", "0s", "0.25", "3", "1.5m", "0.5h",
                       "250.5ms", 2, 0.5, 0}) do
    t:assert_eq(wait_until(yes, {timeout = d, interval = d}), "ok", tostring(d))
  end
end)
test("1.5s means one and a half seconds", function(t)
  local e = t:assert_raises(function()
    wait_until(function() return false end, {timeout = "1.5s", interval = "100ms"})
  end)
  t:assert_contains(e, "not met within 1.5s")
end)
test("zero timeout tries once", function(t)
  local calls = 0
  local e = t:assert_raises(function()
    wait_until(function() calls = calls + 1; return false end, {timeout = "0s"})
  end)
  t:assert_contains(e, "not met within 0s")
  t:assert_eq(calls, 1)
end)
test("ms means milliseconds", function(t)
  local calls = 0
  local e = t:assert_raises(function()
    wait_until(function() calls = calls + 1; return false end,
               {timeout = "300ms", interval = "100ms"})
  end)
  t:assert_contains(e, "not met within 0.3s")
  t:assert(calls >= 2 and calls <= 6, "calls = " .. calls)
end)
)lua");
  auto start = std::chrono::steady_clock::now();
  auto r = p.run({"--json"});
  auto took = std::chrono::steady_clock::now() - start;
  expect_all_passed(r, "wu.test.lua");
  EXPECT_GE(took, std::chrono::milliseconds(1750));
  EXPECT_LT(took, std::chrono::seconds(8));
}
