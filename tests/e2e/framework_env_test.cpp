// End-to-end tests of the Lua environment of a test file (REFERENCE §4.1, §4.9, §4.11): the
// json global, require through the roots, helper and fixture files not run as tests, and
// _PROVIUM_SOURCE_PATH.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "json_support.hpp"

using namespace provium::e2e;

TEST(FrameworkEnv, JsonEncode) {
  Project p;
  p.write("enc.test.lua", R"lua(
test("arrays", function(t)
  t:assert_eq(json.encode({1, 2, 3}), "[1,2,3]")
  t:assert_eq(json.encode({"a", {true, false}}), '["a",[true,false]]')
end)
test("empty table is an array", function(t)
  t:assert_eq(json.encode({}), "[]")
end)
test("objects", function(t)
  t:assert_eq(json.encode({a = 1}), '{"a":1}')
  local back = json.decode(json.encode({name = "db", port = 5432, nested = {k = "v"}}))
  t:assert_eq(back.name, "db")
  t:assert_eq(back.port, 5432)
  t:assert_eq(back.nested.k, "v")
end)
test("integer keys stringified in objects", function(t)
  local s = json.encode({[5] = "five", a = 1})
  t:assert_contains(s, '"5":"five"')
  t:assert_contains(s, '"a":1')
  t:assert_eq(s:sub(1, 1), "{")
end)
test("scalars and escapes", function(t)
  t:assert_eq(json.encode("a\"b\n"), '"a\\"b\\n"')
  t:assert_eq(json.encode(true), "true")
  t:assert_eq(json.encode(42), "42")
  t:assert_eq(json.decode(json.encode(1.5)), 1.5)
end)
test("cycles, functions and userdata raise", function(t)
  local cyc = {}
  cyc.self = cyc
  t:assert_raises(function() json.encode(cyc) end)
  t:assert_raises(function() json.encode({f = function() end}) end)
  t:assert_raises(function() json.encode(print) end)
  t:assert_raises(function() json.encode({lab = provium}) end)
end)
)lua");
  expect_all_passed(p.run({"--json"}), "enc.test.lua");
}

TEST(FrameworkEnv, JsonDecode) {
  Project p;
  p.write("dec.test.lua", R"lua(
test("structures", function(t)
  local d = json.decode('{"a":[1,2,{"b":true}],"s":"x\\u00e9"}')
  t:assert_eq(d.a[3].b, true)
  t:assert_eq(#d.a, 3)
  t:assert_eq(d.s, "x\xc3\xa9")
end)
test("integers exact", function(t)
  local v = json.decode("9007199254740993")
  t:assert_eq(math.type(v), "integer")
  t:assert_eq(v, 9007199254740993)
  t:assert_eq(json.decode("-9223372036854775808"), math.mininteger)
end)
test("u64 above i64 keeps its bit pattern", function(t)
  t:assert_eq(json.decode("18446744073709551615"), -1)
  t:assert_eq(json.decode("9223372036854775808"), math.mininteger)
end)
test("floats stay floats", function(t)
  t:assert_eq(math.type(json.decode("1.0")), "float")
  t:assert_eq(json.decode("2.5"), 2.5)
end)
test("top-level null is nil", function(t)
  t:assert_eq(json.decode("null"), nil)
end)
test("null members dropped", function(t)
  local d = json.decode('{"a":null,"b":1}')
  t:assert_eq(d.a, nil)
  t:assert_eq(d.b, 1)
  t:assert_eq(next(json.decode('{"only":null}')), nil)
end)
test("null array elements are holes", function(t)
  local d = json.decode("[1,null,3]")
  t:assert_eq(d[1], 1)
  t:assert_eq(d[2], nil)
  t:assert_eq(d[3], 3)
end)
test("parse errors raise with a position", function(t)
  local e = t:assert_raises(function() json.decode('{"a":}') end)
  t:assert(tostring(e):find("%d"), "no position in: " .. tostring(e))
  t:assert_raises(function() json.decode("") end)
  t:assert_raises(function() json.decode("[1,2") end)
end)
)lua");
  expect_all_passed(p.run({"--json"}), "dec.test.lua");
}

TEST(FrameworkEnv, RequireThroughRoots) {
  Project p;
  p.write("lib/strings.lua", R"lua(
local M = {}
function M.shout(s) return s:upper() .. "!" end
return M
)lua");
  p.write("net/dns/init.lua", "return {name = \"dns-init\"}\n");
  p.write("util.lua", "return {depth = \"top\"}\n");
  // Harness globals are usable from a helper module at load time.
  p.write("lib/declare.lua", R"lua(
test("declared by a helper", function(t) t:assert_eq(type(json), "table") end)
return {loaded = true}
)lua");
  p.write("suite/deep/req.test.lua", R"lua(
local strings = require("lib.strings")
local dns = require("net.dns")
local util = require("util")
local declare = require("lib.declare")
test("modules resolve from the root", function(t)
  t:assert_eq(strings.shout("hi"), "HI!")
  t:assert_eq(dns.name, "dns-init")
  t:assert_eq(util.depth, "top")
  t:assert(declare.loaded)
end)
test("require caches", function(t)
  t:assert(require("lib.strings") == strings, "module loaded twice")
end)
test("missing module raises", function(t)
  local e = t:assert_raises(function() require("no.such.module") end)
  t:assert_contains(tostring(e), "no.such.module")
end)
)lua");
  auto r = p.run({"--json"});
  expect_all_passed(r, "suite/deep/req.test.lua");
  auto f = file_of(r, "suite/deep/req.test.lua");
  bool found = false;
  for (auto& t : f["tests"]) found |= t["name"] == "declared by a helper";
  EXPECT_TRUE(found) << dump(r);
}

TEST(FrameworkEnv, HelpersAndFixturesAreNotRunAsTests) {
  Project p;
  p.write("helper.lua", "test(\"from helper\", function() end)\nerror(\"helper ran\")\n");
  p.write("lib/other.lua", "error(\"other helper ran\")\n");
  p.write("base.fixture.lua", "error(\"fixture ran\")\n");
  p.write("nested/vm.fixture.lua", "error(\"fixture ran\")\n");
  p.write("notes.test.lua.txt", "error(\"not lua\")\n");
  p.write("only.test.lua", "test(\"real\", function(t) end)\n");
  p.write("nested/second.test.lua", "test(\"real too\", function(t) end)\n");
  auto r = p.run({"--json"});
  EXPECT_EQ(r.exit_code, 0) << dump(r);
  auto lines = json_lines(r.out);
  EXPECT_EQ(lines.size(), 2u) << dump(r);
  for (auto& j : lines) {
    EXPECT_TRUE(j["chunk_error"].is_null()) << j.dump();
    std::string path = j.value("path", "");
    EXPECT_NE(path.find(".test.lua"), std::string::npos) << path;
  }
  EXPECT_TRUE(file_of(r, "only.test.lua").is_object()) << dump(r);
  EXPECT_TRUE(file_of(r, "nested/second.test.lua").is_object()) << dump(r);
  EXPECT_EQ(r.out.find("ran"), std::string::npos) << dump(r);
}

TEST(FrameworkEnv, SourcePathNamesTheFile) {
  Project p;
  p.write("dir/src.test.lua", R"lua(
-- MARKER-7f3a
test("source path", function(t)
  local path = _PROVIUM_SOURCE_PATH
  t:assert_eq(type(path), "string")
  t:assert_eq(path:sub(1, 1), "/", "not absolute: " .. path)
  t:assert(path:sub(-#"dir/src.test.lua") == "dir/src.test.lua", path)
  local f = assert(io.open(path, "r"))
  local text = f:read("a")
  f:close()
  t:assert_contains(text, "MARKER-7f3a")
end)
)lua");
  expect_all_passed(p.run({"--json"}), "dir/src.test.lua");
}

TEST(FrameworkEnv, FreshStatePerFileWithStandardLibrary) {
  Project p;
  p.write("a.test.lua", R"lua(
LEAK = "from a"
test("stdlib", function(t)
  t:assert_eq(type(io.open), "function")
  t:assert_eq(type(os.getenv), "function")
  t:assert_eq(type(string.pack), "function")
  t:assert(provium ~= nil)
end)
)lua");
  p.write("b.test.lua", R"lua(
test("no leak from other files", function(t) t:assert_eq(LEAK, nil) end)
)lua");
  auto r = p.run({"--json"});
  expect_all_passed(r, "a.test.lua");
  expect_all_passed(r, "b.test.lua");
}
