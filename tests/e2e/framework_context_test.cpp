// End-to-end tests of the `t` context (REFERENCE §4.4): assertions and their messages, sticky
// failures, assert_raises, fail/skip/log, and error positions pointing at the caller.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "json_support.hpp"

using namespace provium::e2e;

namespace {

// Runs one file named ctx.test.lua and returns its JSON object.
class FrameworkContext : public ::testing::Test {
 protected:
  json run_file(const std::string& body, int expected_exit) {
    p_.write("ctx.test.lua", body);
    r_ = p_.run({"--json"});
    EXPECT_EQ(r_.exit_code, expected_exit) << dump(r_);
    EXPECT_EQ(r_.signal, 0) << dump(r_);
    auto f = file_of(r_, "ctx.test.lua");
    EXPECT_TRUE(f.is_object()) << dump(r_);
    if (f.is_object()) {
      EXPECT_TRUE(f["chunk_error"].is_null()) << dump(r_);
    }
    return f;
  }
  void expect_status(const json& f, const std::string& name, const std::string& status) {
    auto t = test_of(f, name);
    ASSERT_TRUE(t.is_object()) << "no test `" << name << "`\n" << dump(r_);
    EXPECT_EQ(t["status"], status) << name << ": " << t.dump();
  }
  // The failure message ends with `tail` and names the file and line of the caller.
  void expect_failed(const json& f, const std::string& name, const std::string& tail, int line) {
    auto t = test_of(f, name);
    ASSERT_TRUE(t.is_object()) << "no test `" << name << "`\n" << dump(r_);
    EXPECT_EQ(t["status"], "failed") << name << ": " << t.dump();
    std::string m = message(t);
    EXPECT_TRUE(ends_with(m, tail))
        << name << ": message `" << m << "` should end with `" << tail << "`";
    if (line > 0) {
      std::string at = "ctx.test.lua:" + std::to_string(line) + ":";
      EXPECT_NE(m.find(at), std::string::npos)
          << name << ": message `" << m << "` should point at " << at;
    }
  }
  Project p_;
  RunOutput r_;
};

}  // namespace

TEST_F(FrameworkContext, NameAndMeta) {
  auto f = run_file(R"lua(
test("my name", function(t) t:assert_eq(t.name, "my name") end)
test("no meta", function(t)
  t:assert_eq(type(t.meta), "table")
  t:assert_eq(next(t.meta), nil)
end)
test("with meta", {owner = "db", tags = {"a", "b"}, n = 3}, function(t)
  t:assert_eq(t.meta.owner, "db")
  t:assert_eq(t.meta.tags[2], "b")
  t:assert_eq(t.meta.n, 3)
end)
)lua",
                    0);
  expect_status(f, "my name", "passed");
  expect_status(f, "no meta", "passed");
  expect_status(f, "with meta", "passed");
}

TEST_F(FrameworkContext, AssertMessages) {
  auto f = run_file(R"lua(
test("truthy values pass", function(t) t:assert(0); t:assert(""); t:assert({}) end)
test("default message", function(t)
  t:assert(false)
end)
test("custom message", function(t)
  t:assert(nil, "the widget is missing")
end)
)lua",
                    1);
  expect_status(f, "truthy values pass", "passed");
  expect_failed(f, "default message", "assertion failed", 4);
  expect_failed(f, "custom message", "the widget is missing", 7);
}

TEST_F(FrameworkContext, AssertEqAndNeqMessages) {
  auto f = run_file(R"lua(
test("eq passes", function(t) t:assert_eq(3, 3); t:assert_eq("x", "x"); t:assert_eq(nil, nil) end)
test("eq plain", function(t)
  t:assert_eq(1, 2)
end)
test("eq with msg", function(t)
  t:assert_eq("left", "right", "names differ")
end)
test("eq renders with tostring", function(t)
  t:assert_eq(nil, false)
end)
test("eq int vs string", function(t)
  t:assert_eq(1, "1")
end)
test("neq passes", function(t) t:assert_neq(1, 2); t:assert_neq(1, "1") end)
test("neq plain", function(t)
  t:assert_neq(5, 5)
end)
test("neq with msg", function(t)
  t:assert_neq("a", "a", "should differ")
end)
)lua",
                    1);
  expect_status(f, "eq passes", "passed");
  expect_failed(f, "eq plain", "1 ~= 2", 4);
  expect_failed(f, "eq with msg", "names differ: left ~= right", 7);
  expect_failed(f, "eq renders with tostring", "nil ~= false", 10);
  expect_failed(f, "eq int vs string", "1 ~= 1", 13);
  expect_status(f, "neq passes", "passed");
  expect_failed(f, "neq plain", "5 == 5", 17);
  expect_failed(f, "neq with msg", "should differ: a == a", 20);
}

TEST_F(FrameworkContext, AssertContainsIsPlainSubstring) {
  auto f = run_file(R"lua(
test("substring found", function(t)
  t:assert_contains("hello world", "o w")
  t:assert_contains("50% (done)", "% (")
  t:assert_contains("abc", "")
end)
test("dot is not a pattern", function(t)
  t:assert_contains("abc", "a.c")
end)
test("with msg", function(t)
  t:assert_contains("haystack", "needle", "search")
end)
test("number haystack raises", function(t)
  t:assert_contains(123, "2")
end)
test("nil needle raises", function(t)
  t:assert_contains("abc", nil)
end)
test("non-string raise is immediate", function(t)
  local ok = pcall(t.assert_contains, t, {}, "x")
  t:log(tostring(ok))
end)
)lua",
                    1);
  expect_status(f, "substring found", "passed");
  expect_failed(f, "dot is not a pattern", "abc does not contain a.c", 8);
  expect_failed(f, "with msg", "search: haystack does not contain needle", 11);
  expect_status(f, "number haystack raises", "failed");
  expect_status(f, "nil needle raises", "failed");
  auto t = test_of(f, "non-string raise is immediate");
  EXPECT_EQ(t["status"], "failed") << t.dump();
  EXPECT_EQ(t["log"], json::array({"false"})) << t.dump();
}

TEST_F(FrameworkContext, AssertRaises) {
  auto f = run_file(R"lua(
test("returns the error string", function(t)
  local e = t:assert_raises(function() error("kaboom", 0) end)
  t:assert_eq(e, "kaboom")
end)
test("returns a table error", function(t)
  local e = t:assert_raises(function() error({code = 7}) end)
  t:assert_eq(type(e), "table")
  t:assert_eq(e.code, 7)
end)
test("no raise", function(t)
  t:assert_raises(function() return 1 end)
end)
test("no raise with msg", function(t)
  t:assert_raises(function() end, "parser must reject")
end)
test("inner assertion does not fail the test", function(t)
  local e = t:assert_raises(function() t:assert_eq(1, 2) end)
  t:assert_contains(e, "1 ~= 2")
  t:assert_raises(function() t:fail("provoked") end)
  t:assert_raises(function() t:assert(false) end)
end)
test("earlier sticky failure survives assert_raises", function(t)
  pcall(t.assert_eq, t, "x", "y")
  t:assert_raises(function() error("expected") end)
end)
)lua",
                    1);
  expect_status(f, "returns the error string", "passed");
  expect_status(f, "returns a table error", "passed");
  expect_failed(f, "no raise", "expected to raise", 12);
  expect_failed(f, "no raise with msg", "parser must reject: expected to raise", 15);
  expect_status(f, "inner assertion does not fail the test", "passed");
  auto t = test_of(f, "earlier sticky failure survives assert_raises");
  EXPECT_EQ(t["status"], "failed") << t.dump();
  EXPECT_NE(message(t).find("x ~= y"), std::string::npos) << t.dump();
}

TEST_F(FrameworkContext, StickyFailuresSurvivePcall) {
  auto f = run_file(R"lua(
test("swallowed assert_eq", function(t)
  local ok, err = pcall(function() t:assert_eq(1, 2) end)
  t:log("ok=" .. tostring(ok))
end)
test("swallowed fail", function(t)
  pcall(t.fail, t, "quietly")
end)
test("swallowed assert", function(t)
  pcall(t.assert, t, false, "hidden")
end)
test("builtin assert is untouched", function(t)
  local ok, err = pcall(assert, false, "builtin")
  t:assert_eq(ok, false)
  t:assert_eq(err, "builtin")
end)
test("plain error swallowed is fine", function(t)
  pcall(error, "not an assertion")
end)
)lua",
                    1);
  auto t = test_of(f, "swallowed assert_eq");
  EXPECT_EQ(t["status"], "failed") << t.dump();
  EXPECT_NE(message(t).find("1 ~= 2"), std::string::npos) << t.dump();
  EXPECT_EQ(t["log"], json::array({"ok=false"})) << t.dump();
  t = test_of(f, "swallowed fail");
  EXPECT_EQ(t["status"], "failed") << t.dump();
  EXPECT_NE(message(t).find("quietly"), std::string::npos) << t.dump();
  t = test_of(f, "swallowed assert");
  EXPECT_EQ(t["status"], "failed") << t.dump();
  EXPECT_NE(message(t).find("hidden"), std::string::npos) << t.dump();
  expect_status(f, "builtin assert is untouched", "passed");
  expect_status(f, "plain error swallowed is fine", "passed");
}

TEST_F(FrameworkContext, FailSkipAndLog) {
  auto f = run_file(R"lua(
test("fail default", function(t)
  t:fail()
end)
test("fail with msg", function(t)
  t:fail("gave up")
end)
test("fail stops the body", function(t)
  t:log("before")
  pcall(function() end)
  t:fail("stop")
  t:log("after")
end)
test("skip with reason", function(t)
  t:skip("needs two DCs")
  error("must not run after skip")
end)
test("log entries", function(t)
  t:log("first")
  t:log(42)
  t:log(true)
end)
test("log on failure", function(t)
  t:log("step 1")
  t:assert_eq(1, 2)
end)
)lua",
                    1);
  expect_failed(f, "fail default", "explicit failure (t:fail)", 3);
  expect_failed(f, "fail with msg", "gave up", 6);
  auto t = test_of(f, "fail stops the body");
  EXPECT_EQ(t["status"], "failed") << t.dump();
  EXPECT_EQ(t["log"], json::array({"before"})) << t.dump();
  t = test_of(f, "skip with reason");
  EXPECT_EQ(t["status"], "skipped") << t.dump();
  EXPECT_EQ(t["message"], "needs two DCs") << t.dump();
  t = test_of(f, "log entries");
  EXPECT_EQ(t["status"], "passed") << t.dump();
  EXPECT_EQ(t["log"], json::array({"first", "42", "true"})) << t.dump();
  t = test_of(f, "log on failure");
  EXPECT_EQ(t["status"], "failed") << t.dump();
  EXPECT_EQ(t["log"], json::array({"step 1"})) << t.dump();
}

TEST_F(FrameworkContext, AssertionsPointAtCallerInHelperModule) {
  p_.write("checks.lua", R"lua(
local M = {}
function M.same(t, a, b)
  t:assert_eq(a, b, "helper")
end
return M
)lua");
  auto f = run_file(R"lua(
local checks = require("checks")
test("via helper", function(t)
  checks.same(t, 1, 2)
end)
)lua",
                    1);
  auto t = test_of(f, "via helper");
  EXPECT_EQ(t["status"], "failed") << t.dump();
  EXPECT_NE(message(t).find("checks.lua:4:"), std::string::npos) << t.dump();
  EXPECT_TRUE(ends_with(message(t), "helper: 1 ~= 2")) << t.dump();
}

TEST_F(FrameworkContext, FailureShowsInPlainText) {
  p_.write("ctx.test.lua", R"lua(
test("good", function(t) end)
test("bad", function(t) t:assert_eq("a", "b", "mismatch") end)
)lua");
  auto r = p_.run({});
  EXPECT_EQ(r.exit_code, 1) << dump(r);
  EXPECT_NE(r.out.find("FAIL ctx.test.lua (1 passed, 1 failed, 0 skipped)"), std::string::npos)
      << dump(r);
  EXPECT_NE(r.out.find("    FAIL bad\n        "), std::string::npos) << dump(r);
  EXPECT_NE(r.out.find("mismatch: a ~= b"), std::string::npos) << dump(r);
}
