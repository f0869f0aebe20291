// The `json` global (REFERENCE §4.9), driven through a real Lua state.
#include <gtest/gtest.h>

#include <lua.hpp>
#include <nlohmann/json.hpp>

#include "lua/bindings.hpp"
#include "lua_fixture.hpp"

namespace provium::lua {
namespace {

class JsonTest : public provium::unit::LuaTest {
 protected:
  JsonTest() { register_json(L); }

  // json.encode(<expr>) as a string.
  std::string Encode(const std::string& expr) {
    std::string err = Run("return json.encode(" + expr + ")");
    EXPECT_EQ(err, "") << expr;
    if (!err.empty()) return "";
    std::string out = lua_tostring(L, -1);
    lua_pop(L, 1);
    return out;
  }
  nlohmann::json EncodeParsed(const std::string& expr) {
    return nlohmann::json::parse(Encode(expr));
  }
  // Evaluates a Lua boolean expression (with `json` available).
  bool Check(const std::string& expr) {
    std::string err = Run("return " + expr);
    EXPECT_EQ(err, "") << expr;
    if (!err.empty()) return false;
    bool b = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return b;
  }
};

// ---- encode ----

TEST_F(JsonTest, EncodesScalars) {
  EXPECT_EQ(Encode("true"), "true");
  EXPECT_EQ(Encode("42"), "42");
  EXPECT_EQ(Encode("-3"), "-3");
  EXPECT_EQ(Encode("1.5"), "1.5");
  EXPECT_EQ(Encode("'hi'"), "\"hi\"");
  EXPECT_EQ(Encode("'a\"b\\n'"), R"("a\"b\n")");
  EXPECT_EQ(Encode("nil"), "null");
}

TEST_F(JsonTest, SequenceBecomesArray) {
  EXPECT_EQ(Encode("{1, 2, 3}"), "[1,2,3]");
  EXPECT_EQ(Encode("{'a', {true}}"), R"(["a",[true]])");
}

TEST_F(JsonTest, HolesAreFilledWithNull) {
  EXPECT_EQ(Encode("{1, nil, 3}"), "[1,null,3]");
  EXPECT_EQ(Encode("{[1] = 'a', [3] = 'c'}"), R"(["a",null,"c"])");
}

TEST_F(JsonTest, StringKeysBecomeObject) {
  EXPECT_EQ(EncodeParsed("{a = 1, b = {c = 'd'}}"),
            nlohmann::json::parse(R"({"a":1,"b":{"c":"d"}})"));
}

TEST_F(JsonTest, MixedKeysBecomeObjectWithIntegerKeysStringified) {
  EXPECT_EQ(EncodeParsed("{'x', 'y', name = 'n'}"),
            nlohmann::json::parse(R"({"1":"x","2":"y","name":"n"})"));
}

TEST_F(JsonTest, RaisesOnCycles) {
  std::string err = Run("local t = {}; t.me = t; return json.encode(t)");
  EXPECT_NE(err, "");
  err = Run("local t = {}; t[1] = t; return json.encode(t)");
  EXPECT_NE(err, "");
}

TEST_F(JsonTest, RaisesOnFunctionsAndUserdata) {
  EXPECT_NE(Run("return json.encode(print)"), "");
  EXPECT_NE(Run("return json.encode({f = function() end})"), "");
  EXPECT_NE(Run("return json.encode(io.stdout)"), "");
  EXPECT_NE(Run("return json.encode({io.stdout})"), "");
}

TEST_F(JsonTest, EncodeErrorsArePlainLuaStringsCatchableByPcall) {
  MustRun("local ok, e = pcall(json.encode, print); return ok, type(e)");
  EXPECT_FALSE(lua_toboolean(L, -2));
  EXPECT_STREQ(lua_tostring(L, -1), "string");
  lua_pop(L, 2);
}

TEST_F(JsonTest, SharedTableIsNotACycle) {
  EXPECT_EQ(EncodeParsed("(function() local s = {1}; return {a = s, b = s} end)()"),
            nlohmann::json::parse(R"({"a":[1],"b":[1]})"));
}

// ---- decode ----

TEST_F(JsonTest, DecodesObjectsAndArrays) {
  EXPECT_TRUE(Check(R"((function()
    local v = json.decode('{"a": [1, "two", true], "b": {"c": 1.5}}')
    return v.a[1] == 1 and v.a[2] == "two" and v.a[3] == true and v.b.c == 1.5 and #v.a == 3
  end)())"));
}

TEST_F(JsonTest, IntegersInI64RangeAreExact) {
  EXPECT_TRUE(Check(R"(json.decode("9223372036854775807") == math.maxinteger)"));
  EXPECT_TRUE(Check(R"(json.decode("-9223372036854775808") == math.mininteger)"));
  EXPECT_TRUE(Check(R"(math.type(json.decode("42")) == "integer")"));
  EXPECT_TRUE(Check(R"(json.decode("9007199254740993") == 9007199254740993)"));
}

TEST_F(JsonTest, U64AboveI64KeepsItsBitPattern) {
  EXPECT_TRUE(Check(R"(json.decode("18446744073709551615") == -1)"));
  EXPECT_TRUE(Check(R"(json.decode("9223372036854775808") == math.mininteger)"));
}

TEST_F(JsonTest, FloatsStayFloats) {
  EXPECT_TRUE(Check(R"(math.type(json.decode("1.0")) == "float")"));
  EXPECT_TRUE(Check(R"(json.decode("2.5") == 2.5)"));
  EXPECT_TRUE(Check(R"(math.type(json.decode("1e3")) == "float")"));
}

TEST_F(JsonTest, TopLevelNullIsNil) {
  MustRun(R"(return select('#', json.decode("null")), json.decode("null"))");
  EXPECT_EQ(lua_tointeger(L, -2), 1);
  EXPECT_TRUE(lua_isnil(L, -1));
  lua_pop(L, 2);
}

TEST_F(JsonTest, NullObjectMembersAreDropped) {
  EXPECT_TRUE(Check(R"((function()
    local v = json.decode('{"a": null, "b": 1}')
    local n = 0
    for _ in pairs(v) do n = n + 1 end
    return v.a == nil and v.b == 1 and n == 1
  end)())"));
}

TEST_F(JsonTest, NullArrayElementsBecomeHoles) {
  EXPECT_TRUE(Check(R"((function()
    local v = json.decode('[1, null, 3]')
    return v[1] == 1 and v[2] == nil and v[3] == 3 and rawget(v, 2) == nil
  end)())"));
}

TEST_F(JsonTest, DecodeErrorReportsTheBytePosition) {
  std::string err = Run(R"(return json.decode('{"a": }'))");
  ASSERT_NE(err, "");
  EXPECT_NE(err.find("byte"), std::string::npos) << err;
  EXPECT_NE(err.find('7'), std::string::npos) << err;
}

TEST_F(JsonTest, DecodeRejectsTrailingGarbageAndEmptyInput) {
  EXPECT_NE(Run(R"(return json.decode('[1] x'))"), "");
  EXPECT_NE(Run(R"(return json.decode(''))"), "");
}

TEST_F(JsonTest, RoundTripPreservesStructure) {
  EXPECT_TRUE(Check(R"((function()
    local t = {name = "n", list = {1, 2, {deep = true}}, f = 0.25}
    local u = json.decode(json.encode(t))
    return u.name == "n" and u.list[3].deep == true and u.f == 0.25 and #u.list == 3
  end)())"));
}

}  // namespace
}  // namespace provium::lua
