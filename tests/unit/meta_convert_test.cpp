// Lua value -> MetaValue (REFERENCE §11.4, seed-meta-tags "Arbitrary keys").
#include <gtest/gtest.h>

#include <lua.hpp>

#include "lua/convert.hpp"
#include "lua_fixture.hpp"
#include "meta_builders.hpp"

namespace provium::lua {
namespace {

using namespace provium::unit;

class MetaConvertTest : public LuaTest {
 protected:
  // Evaluates `expr` in Lua and converts the result.
  MetaValue Convert(const std::string& expr, std::vector<std::string>* problems = nullptr) {
    int top = lua_gettop(L);
    std::string err = Run("return " + expr);
    EXPECT_EQ(err, "") << expr;
    if (!err.empty()) return {};
    MetaValue v = to_meta_value(L, -1, problems);
    EXPECT_EQ(lua_gettop(L), top + 1) << "conversion changed the stack";
    lua_settop(L, top);
    return v;
  }
};

TEST_F(MetaConvertTest, Scalars) {
  EXPECT_EQ(Convert("nil"), Null());
  EXPECT_EQ(Convert("true"), Bool(true));
  EXPECT_EQ(Convert("false"), Bool(false));
  EXPECT_EQ(Convert("42"), Int(42));
  EXPECT_EQ(Convert("-7"), Int(-7));
  EXPECT_EQ(Convert("math.maxinteger"), Int(INT64_MAX));
  EXPECT_EQ(Convert("1.5"), Float(1.5));
  EXPECT_EQ(Convert("'hello'"), Str("hello"));
  EXPECT_EQ(Convert("''"), Str(""));
}

TEST_F(MetaConvertTest, FloatWithIntegralValueStaysFloat) {
  EXPECT_EQ(Convert("2.0"), Float(2.0));
  EXPECT_EQ(Convert("3 / 1"), Float(3.0));
}

TEST_F(MetaConvertTest, Utf8StringIsStrAndInvalidUtf8IsBytes) {
  EXPECT_EQ(Convert("'caf\\u{E9}'"), Str("caf\xC3\xA9"));
  EXPECT_EQ(Convert("'\\xff\\xfe'"), Bytes("\xff\xfe"));
  EXPECT_EQ(Convert("'ok\\0nul'"), Str(std::string("ok\0nul", 6)));
  EXPECT_EQ(Convert("'\\xc0\\xaf'"), Bytes("\xc0\xaf"));  // overlong
}

TEST_F(MetaConvertTest, SequenceIsArray) {
  EXPECT_EQ(Convert("{'net', 'dns'}"), Arr({Str("net"), Str("dns")}));
  EXPECT_EQ(Convert("{1, 2.5, true, 'x'}"), Arr({Int(1), Float(2.5), Bool(true), Str("x")}));
  EXPECT_EQ(Convert("{[1] = 'a', [2] = 'b'}"), Arr({Str("a"), Str("b")}));
}

TEST_F(MetaConvertTest, EmptyTableIsEmptyArray) { EXPECT_EQ(Convert("{}"), Arr({})); }

TEST_F(MetaConvertTest, StringKeysMakeAMap) {
  EXPECT_EQ(Convert("{slow = true, spec = 'PSD §4.2.1'}"),
            Map({{"slow", Bool(true)}, {"spec", Str("PSD §4.2.1")}}));
}

TEST_F(MetaConvertTest, MixedTableIsMapWithIntegerKeysStringified) {
  EXPECT_EQ(Convert("{'a', 'b', x = 1}"), Map({{"1", Str("a")}, {"2", Str("b")}, {"x", Int(1)}}));
}

TEST_F(MetaConvertTest, NonSequenceIntegerKeysAreNotAnArray) {
  MetaValue gap = Convert("{[1] = 'a', [3] = 'c'}");
  ASSERT_NE(gap.as_map(), nullptr) << to_display(gap);
  EXPECT_EQ(*gap.as_map(), (MetaMap{{"1", Str("a")}, {"3", Str("c")}}));
  MetaValue from_two = Convert("{[2] = 'b'}");
  ASSERT_NE(from_two.as_map(), nullptr) << to_display(from_two);
  EXPECT_EQ(*from_two.as_map(), (MetaMap{{"2", Str("b")}}));
}

TEST_F(MetaConvertTest, ShapeIsDecidedPerNestingLevel) {
  MetaValue v = Convert(R"({
    subsystems = {"peinit", "loregd"},
    tags = {"dns"},
    nested = {k = {1, 2}, list = {{a = 1}, {2}}},
  })");
  MetaValue want = Map({
      {"subsystems", Arr({Str("peinit"), Str("loregd")})},
      {"tags", Arr({Str("dns")})},
      {"nested",
       Map({{"k", Arr({Int(1), Int(2)})}, {"list", Arr({Map({{"a", Int(1)}}), Arr({Int(2)})})}})},
  });
  EXPECT_EQ(v, want) << to_display(v);
}

TEST_F(MetaConvertTest, FunctionBecomesNullWithAProblem) {
  std::vector<std::string> problems;
  MetaValue v = Convert("{f = function() end, ok = 1}", &problems);
  EXPECT_EQ(v, Map({{"f", Null()}, {"ok", Int(1)}})) << to_display(v);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("function"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("f"), std::string::npos) << problems[0];
}

TEST_F(MetaConvertTest, TopLevelFunctionBecomesNull) {
  std::vector<std::string> problems;
  EXPECT_EQ(Convert("print", &problems), Null());
  EXPECT_EQ(problems.size(), 1u);
}

TEST_F(MetaConvertTest, UserdataAndThreadsBecomeNull) {
  std::vector<std::string> problems;
  EXPECT_EQ(Convert("io.stdout", &problems), Null());
  EXPECT_EQ(Convert("coroutine.create(function() end)", &problems), Null());
  EXPECT_EQ(problems.size(), 2u);
}

TEST_F(MetaConvertTest, ProblemsAreOptional) {
  EXPECT_EQ(Convert("{f = print}"), Map({{"f", Null()}}));
}

TEST_F(MetaConvertTest, CycleBecomesNull) {
  std::vector<std::string> problems;
  MetaValue v =
      Convert("(function() local t = {name = 'x'}; t.self = t; return t end)()", &problems);
  EXPECT_EQ(v, Map({{"name", Str("x")}, {"self", Null()}})) << to_display(v);
  EXPECT_FALSE(problems.empty());
}

TEST_F(MetaConvertTest, SharedNonCyclicTableIsNotACycle) {
  MetaValue v = Convert("(function() local s = {1}; return {a = s, b = s} end)()");
  EXPECT_EQ(v, Map({{"a", Arr({Int(1)})}, {"b", Arr({Int(1)})}})) << to_display(v);
}

TEST_F(MetaConvertTest, ToMetaMapOfMetaTable) {
  MustRun("return {tags = 'smoke', timeout = '30s'}");
  MetaMap m = to_meta_map(L, -1);
  lua_pop(L, 1);
  EXPECT_EQ(m, (MetaMap{{"tags", Str("smoke")}, {"timeout", Str("30s")}}));
  MustRun("return {}");
  EXPECT_TRUE(to_meta_map(L, -1).empty());
  lua_pop(L, 1);
}

TEST_F(MetaConvertTest, PushMetaValueRoundTrips) {
  MetaValue v = Map({{"a", Arr({Int(1), Float(2.5), Str("s")})},
                     {"b", Bool(true)},
                     {"c", Map({{"d", Str("e")}})},
                     {"raw", Bytes("\xff\x01")}});
  push_meta_value(L, v);
  lua_setglobal(L, "v");
  MustRun(R"(return math.type(v.a[1]) == "integer" and math.type(v.a[2]) == "float"
                and v.a[3] == "s" and v.b == true and v.c.d == "e" and v.raw == "\xff\x01")");
  EXPECT_TRUE(lua_toboolean(L, -1));
  lua_pop(L, 1);
  lua_getglobal(L, "v");
  EXPECT_EQ(to_meta_value(L, -1), v);
  lua_pop(L, 1);
}

}  // namespace
}  // namespace provium::lua
