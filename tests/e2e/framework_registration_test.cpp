// End-to-end tests of test registration and file-level errors (REFERENCE §4.1, §4.2, §4.5):
// the accepted test() shapes, duplicate names, declaration order in one Lua state, chunk errors
// at file scope, and todo().
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "json_support.hpp"

using namespace provium::e2e;

namespace {

std::string str_or_empty(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string()) return "";
  return j[key].get<std::string>();
}

}  // namespace

TEST(FrameworkRegistration, BothShapesRegisterAndRun) {
  Project p;
  p.write("shapes.test.lua", R"lua(
test("plain", function(t) t:assert_eq(t.name, "plain") end)
test("with meta", {owner = "me"}, function(t) t:assert_eq(t.meta.owner, "me") end)
)lua");
  auto r = p.run({"--json"});
  EXPECT_EQ(r.exit_code, 0) << dump(r);
  auto f = file_of(r, "shapes.test.lua");
  ASSERT_TRUE(f.is_object()) << dump(r);
  EXPECT_TRUE(f["chunk_error"].is_null()) << dump(r);
  ASSERT_EQ(f["tests"].size(), 2u) << dump(r);
  EXPECT_EQ(test_of(f, "plain")["status"], "passed") << dump(r);
  EXPECT_EQ(test_of(f, "with meta")["status"], "passed") << dump(r);
}

TEST(FrameworkRegistration, OtherShapesAreChunkErrors) {
  Project p;
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"meta_string.test.lua", "test(\"a\", \"meta\", function() end)\n"},
      {"no_fn.test.lua", "test(\"a\")\n"},
      {"meta_no_fn.test.lua", "test(\"a\", {})\n"},
      {"number_name.test.lua", "test(42, function() end)\n"},
      {"table_fn.test.lua", "test(\"a\", {}, {})\n"},
  };
  for (auto& [name, body] : bad) p.write(name, body);
  p.write("good.test.lua", "test(\"ok\", function(t) end)\n");
  auto r = p.run({"--json"});
  EXPECT_EQ(r.exit_code, 1) << dump(r);
  EXPECT_EQ(r.signal, 0) << dump(r);
  for (auto& [name, body] : bad) {
    auto f = file_of(r, name);
    ASSERT_TRUE(f.is_object()) << name << "\n" << dump(r);
    EXPECT_TRUE(f["chunk_error"].is_string()) << name << "\n" << dump(r);
    EXPECT_NE(str_or_empty(f, "chunk_error").find("test"), std::string::npos) << name;
    EXPECT_EQ(f["passed"], false) << name;
  }
  auto good = file_of(r, "good.test.lua");
  ASSERT_TRUE(good.is_object()) << dump(r);
  EXPECT_EQ(good["passed"], true) << dump(r);
}

TEST(FrameworkRegistration, DuplicateNameIsAChunkErrorAtRegistration) {
  Project p;
  p.write("dup.test.lua",
          "test(\"same\", function(t) end)\n"
          "test(\"same\", function(t) end)\n"
          "error(\"the chunk must stop at the duplicate\")\n");
  auto r = p.run({"--json"});
  EXPECT_EQ(r.exit_code, 1) << dump(r);
  auto f = file_of(r, "dup.test.lua");
  ASSERT_TRUE(f.is_object()) << dump(r);
  std::string ce = str_or_empty(f, "chunk_error");
  EXPECT_NE(ce.find("test: duplicate name `same` in this file"), std::string::npos) << dump(r);
  EXPECT_NE(ce.find("dup.test.lua:2:"), std::string::npos) << dump(r);
  EXPECT_EQ(ce.find("must stop"), std::string::npos) << dump(r);
  EXPECT_EQ(f["passed"], false);
}

TEST(FrameworkRegistration, TestsRunInDeclarationOrderSharingFileScope) {
  Project p;
  p.write("order.test.lua", R"lua(
local seen = {}
local counter = 0
test("zeta", function(t) seen[#seen + 1] = "zeta"; counter = counter + 1 end)
test("alpha", function(t) seen[#seen + 1] = "alpha"; counter = counter + 1 end)
seen[#seen + 1] = "chunk"
test("mid", function(t)
  seen[#seen + 1] = "mid"
  t:assert_eq(table.concat(seen, ","), "chunk,zeta,alpha,mid")
  t:assert_eq(counter, 2)
end)
test("globals persist", function(t)
  GLOBAL_FROM_TEST = (GLOBAL_FROM_TEST or 0) + 1
end)
test("sees previous global", function(t) t:assert_eq(GLOBAL_FROM_TEST, 1) end)
)lua");
  auto r = p.run({"--json"});
  EXPECT_EQ(r.exit_code, 0) << dump(r);
  auto f = file_of(r, "order.test.lua");
  ASSERT_TRUE(f.is_object()) << dump(r);
  std::vector<std::string> names;
  for (auto& t : f["tests"]) names.push_back(t["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"zeta", "alpha", "mid", "globals persist",
                                             "sees previous global"}));
  for (auto& t : f["tests"]) EXPECT_EQ(t["status"], "passed") << t.dump();
}

TEST(FrameworkRegistration, EachTestGetsAFreshContext) {
  Project p;
  p.write("fresh.test.lua", R"lua(
local first
test("one", function(t) first = t; t.scratch = "x"; t:log("from one") end)
test("two", function(t)
  t:assert(t ~= first, "same t object reused")
  t:assert_eq(t.scratch, nil)
  t:assert_eq(t.name, "two")
end)
)lua");
  auto r = p.run({"--json"});
  EXPECT_EQ(r.exit_code, 0) << dump(r);
  auto f = file_of(r, "fresh.test.lua");
  EXPECT_EQ(test_of(f, "two")["status"], "passed") << dump(r);
  EXPECT_EQ(test_of(f, "two")["log"], json::array()) << dump(r);
}

TEST(FrameworkRegistration, SyntaxErrorIsChunkErrorWithFileLineAndOthersStillRun) {
  Project p;
  p.write("syntax.test.lua",
          "test(\"never\", function(t) end)\n"
          "local x = 1\n"
          "local y = = 2\n");
  p.write("fine.test.lua", "test(\"ok\", function(t) t:assert(true) end)\n");
  auto r = p.run({"--json"});
  EXPECT_EQ(r.exit_code, 1) << dump(r);
  EXPECT_EQ(r.signal, 0) << dump(r);
  auto f = file_of(r, "syntax.test.lua");
  ASSERT_TRUE(f.is_object()) << dump(r);
  EXPECT_NE(str_or_empty(f, "chunk_error").find("syntax.test.lua:3:"), std::string::npos)
      << dump(r);
  EXPECT_EQ(f["passed"], false);
  EXPECT_TRUE(test_of(f, "never").is_null()) << "a file that does not compile has no tests";
  auto ok = file_of(r, "fine.test.lua");
  ASSERT_TRUE(ok.is_object()) << dump(r);
  EXPECT_EQ(ok["passed"], true) << dump(r);
  EXPECT_EQ(test_of(ok, "ok")["status"], "passed");
}

TEST(FrameworkRegistration, RuntimeErrorAtFileScopeIsChunkError) {
  Project p;
  p.write("boom.test.lua",
          "test(\"registered first\", function(t) end)\n"
          "local cfg = nil\n"
          "error(\"setup exploded\")\n");
  p.write("index.test.lua",
          "local cfg = nil\n"
          "local v = cfg.field\n");
  p.write("fine.test.lua", "test(\"ok\", function(t) end)\n");
  auto r = p.run({"--json"});
  EXPECT_EQ(r.exit_code, 1) << dump(r);
  EXPECT_EQ(r.signal, 0) << dump(r);
  auto boom = file_of(r, "boom.test.lua");
  ASSERT_TRUE(boom.is_object()) << dump(r);
  EXPECT_NE(str_or_empty(boom, "chunk_error").find("boom.test.lua:3: setup exploded"),
            std::string::npos)
      << dump(r);
  EXPECT_EQ(boom["passed"], false);
  auto idx = file_of(r, "index.test.lua");
  ASSERT_TRUE(idx.is_object()) << dump(r);
  EXPECT_NE(str_or_empty(idx, "chunk_error").find("index.test.lua:2:"), std::string::npos)
      << dump(r);
  EXPECT_NE(str_or_empty(idx, "chunk_error").find("attempt to index"), std::string::npos)
      << dump(r);
  EXPECT_EQ(file_of(r, "fine.test.lua")["passed"], true) << dump(r);
}

TEST(FrameworkRegistration, OddErrorValuesDoNotCrash) {
  Project p;
  p.write("table_err.test.lua", "error({code = 1})\n");
  p.write("nil_err.test.lua", "error()\n");
  p.write("bodies.test.lua", R"lua(
test("nil error", function(t) error() end)
test("table error", function(t) error({}) end)
test("number error", function(t) error(42) end)
test("after", function(t) end)
)lua");
  auto r = p.run({"--json"});
  EXPECT_EQ(r.exit_code, 1) << dump(r);
  EXPECT_EQ(r.signal, 0) << dump(r);
  for (auto name : {"table_err.test.lua", "nil_err.test.lua"}) {
    auto f = file_of(r, name);
    ASSERT_TRUE(f.is_object()) << name << "\n" << dump(r);
    EXPECT_TRUE(f["chunk_error"].is_string()) << name << "\n" << dump(r);
    EXPECT_EQ(f["passed"], false);
  }
  auto f = file_of(r, "bodies.test.lua");
  ASSERT_TRUE(f.is_object()) << dump(r);
  for (auto name : {"nil error", "table error", "number error"}) {
    auto t = test_of(f, name);
    EXPECT_EQ(t["status"], "failed") << name << "\n" << dump(r);
    EXPECT_TRUE(t["message"].is_string()) << name << "\n" << dump(r);
  }
  EXPECT_NE(str_or_empty(test_of(f, "number error"), "message").find("42"), std::string::npos)
      << dump(r);
  EXPECT_EQ(test_of(f, "after")["status"], "passed") << dump(r);
}

// An error object whose __tostring itself raises must fail the test, not abort provium.
TEST(FrameworkRegistration, ErrorObjectWithFailingTostringDoesNotCrash) {
  Project p;
  p.write("tostr.test.lua", R"lua(
test("tostring raises", function(t)
  error(setmetatable({}, {__tostring = function() error("nested") end}))
end)
test("after", function(t) end)
)lua");
  p.write("chunkerr.test.lua",
          "error(setmetatable({}, {__tostring = function() error(\"nested\") end}))\n");
  p.write("fine.test.lua", "test(\"ok\", function(t) end)\n");
  auto r = p.run({"--json"});
  EXPECT_EQ(r.signal, 0) << dump(r);
  EXPECT_EQ(r.exit_code, 1) << dump(r);
  auto f = file_of(r, "tostr.test.lua");
  ASSERT_TRUE(f.is_object()) << dump(r);
  EXPECT_EQ(test_of(f, "tostring raises")["status"], "failed") << dump(r);
  EXPECT_EQ(test_of(f, "after")["status"], "passed") << dump(r);
  auto c = file_of(r, "chunkerr.test.lua");
  ASSERT_TRUE(c.is_object()) << dump(r);
  EXPECT_TRUE(c["chunk_error"].is_string()) << dump(r);
  EXPECT_EQ(file_of(r, "fine.test.lua")["passed"], true) << dump(r);
}

TEST(FrameworkRegistration, ChunkErrorInPlainTextSummary) {
  Project p;
  p.write("broken.test.lua", "error(\"nope\")\n");
  p.write("fine.test.lua", "test(\"ok\", function(t) end)\n");
  auto r = p.run({});
  EXPECT_EQ(r.exit_code, 1) << dump(r);
  EXPECT_NE(r.out.find("FAIL broken.test.lua"), std::string::npos) << dump(r);
  EXPECT_NE(r.out.find("    broken.test.lua:1: nope"), std::string::npos) << dump(r);
  EXPECT_NE(r.out.find("PASS fine.test.lua"), std::string::npos) << dump(r);
  EXPECT_NE(r.out.find("2 file(s); 1 passed, 0 failed, 0 skipped, 1 file(s) errored; "),
            std::string::npos)
      << dump(r);
}

TEST(FrameworkRegistration, ErrorInTestBodyFailsOnlyThatTest) {
  Project p;
  p.write("body.test.lua", R"lua(
test("raises", function(t) error("body blew up") end)
test("raises a table", function(t) error({code = 7}) end)
test("after", function(t) end)
)lua");
  auto r = p.run({"--json"});
  EXPECT_EQ(r.exit_code, 1) << dump(r);
  auto f = file_of(r, "body.test.lua");
  ASSERT_TRUE(f.is_object()) << dump(r);
  EXPECT_TRUE(f["chunk_error"].is_null()) << dump(r);
  auto t = test_of(f, "raises");
  EXPECT_EQ(t["status"], "failed");
  EXPECT_NE(str_or_empty(t, "message").find("body.test.lua:2: body blew up"), std::string::npos)
      << dump(r);
  EXPECT_EQ(test_of(f, "raises a table")["status"], "failed") << dump(r);
  EXPECT_EQ(test_of(f, "after")["status"], "passed") << dump(r);
}

TEST(FrameworkRegistration, TestCannotBeDeclaredInsideATest) {
  Project p;
  p.write("nested.test.lua", R"lua(
test("outer", function(t) test("inner", function() end) end)
test("next", function(t) end)
)lua");
  auto r = p.run({"--json"});
  EXPECT_EQ(r.exit_code, 1) << dump(r);
  auto f = file_of(r, "nested.test.lua");
  EXPECT_EQ(test_of(f, "outer")["status"], "failed") << dump(r);
  EXPECT_TRUE(test_of(f, "inner").is_null()) << dump(r);
  EXPECT_EQ(test_of(f, "next")["status"], "passed") << dump(r);
}

TEST(FrameworkRegistration, TodoSkipsEveryTestWithReasonAndNeverRunsBodies) {
  Project p;
  p.write("todo.test.lua", R"lua(
todo("waiting on the parser")
test("one", function(t) io.open("ran-one", "w"):close(); error("body ran") end)
test("two", {tags = {"x"}}, function(t) io.open("ran-two", "w"):close(); error("body ran") end)
)lua");
  p.write("todo_default.test.lua", R"lua(
test("one", function(t) error("body ran") end)
todo()
)lua");
  auto r = p.run({"--json"});
  EXPECT_EQ(r.exit_code, 0) << dump(r);
  auto f = file_of(r, "todo.test.lua");
  ASSERT_TRUE(f.is_object()) << dump(r);
  ASSERT_EQ(f["tests"].size(), 2u) << dump(r);
  for (auto& t : f["tests"]) {
    EXPECT_EQ(t["status"], "skipped") << t.dump();
    EXPECT_EQ(t["message"], "waiting on the parser") << t.dump();
  }
  EXPECT_FALSE(fs::exists(p.dir() / "ran-one"));
  EXPECT_FALSE(fs::exists(p.dir() / "ran-two"));
  auto d = file_of(r, "todo_default.test.lua");
  ASSERT_TRUE(d.is_object()) << dump(r);
  EXPECT_EQ(test_of(d, "one")["status"], "skipped") << dump(r);
  EXPECT_EQ(test_of(d, "one")["message"], "todo") << dump(r);
}

TEST(FrameworkRegistration, FileWithNoTestsPasses) {
  Project p;
  p.write("empty.test.lua", "local x = 1\n");
  auto r = p.run({"--json"});
  EXPECT_EQ(r.exit_code, 0) << dump(r);
  auto f = file_of(r, "empty.test.lua");
  ASSERT_TRUE(f.is_object()) << dump(r);
  EXPECT_EQ(f["passed"], true);
  EXPECT_EQ(f["tests"], json::array());
}
