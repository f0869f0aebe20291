// Every Lua method is declared once (src/lua/api.hpp): the metatables of a state built the way
// the runner builds one hold exactly the declared methods, the generated LSP stubs list every
// one and load as Lua, and every declaration is complete.
#include <gtest/gtest.h>

#include <lua.hpp>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "lab/lab.hpp"
#include "lua/api.hpp"
#include "lua/context.hpp"
#include "lua/state.hpp"

namespace {

using provium::lua::api_types;
using provium::lua::Method;
using provium::lua::parse_params;
using provium::lua::TypeDecl;

// A file state as the runner makes one: every registration, the globals and the prelude.
class ApiDeclState : public ::testing::Test {
 protected:
  ApiDeclState() {
    ctx_.config = &cfg_;
    ctx_.file = "api_decl_test.lua";
    ctx_.abs_path = "/nonexistent/api_decl_test.lua";
    ctx_.root_lab = std::make_shared<provium::lab::Lab>("provium");
    st_ = std::make_unique<provium::lua::FileState>(&ctx_, std::vector<std::string>{});
    L = st_->L();
  }

  provium::config::Config cfg_;
  provium::lua::FileContext ctx_;
  std::unique_ptr<provium::lua::FileState> st_;
  lua_State* L = nullptr;
};

// Pushes the named-method table of metatable `meta`: `__methods` (Lab, whose __index is a
// function) or else `__index`. Returns false (pushing nothing) when there is none.
bool push_method_table(lua_State* L, const std::string& meta) {
  if (luaL_getmetatable(L, meta.c_str()) != LUA_TTABLE) {
    lua_pop(L, 1);
    return false;
  }
  if (lua_getfield(L, -1, "__methods") != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_getfield(L, -1, "__index");
  }
  lua_remove(L, -2);
  if (lua_istable(L, -1)) return true;
  lua_pop(L, 1);
  return false;
}

std::set<std::string> string_keys(lua_State* L, int idx) {
  idx = lua_absindex(L, idx);
  std::set<std::string> out;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) == LUA_TSTRING) out.insert(lua_tostring(L, -2));
    lua_pop(L, 1);
  }
  return out;
}

// Declared methods grouped by metatable, from every part.
std::map<std::string, std::vector<const Method*>> declared_by_meta() {
  std::map<std::string, std::vector<const Method*>> out;
  for (const TypeDecl* t : api_types())
    for (std::size_t i = 0; i < t->count; ++i) out[t->meta].push_back(&t->methods[i]);
  return out;
}

std::string join(const std::set<std::string>& s) {
  std::string out;
  for (auto& x : s) out += (out.empty() ? "" : ", ") + x;
  return out;
}

TEST_F(ApiDeclState, MetatablesHoldExactlyTheDeclaredMethods) {
  auto declared = declared_by_meta();
  ASSERT_GE(declared.size(), 15u);
  for (auto& [meta, methods] : declared) {
    SCOPED_TRACE(meta);
    ASSERT_TRUE(push_method_table(L, meta)) << "no metatable with a method table";
    std::set<std::string> want;
    for (auto* m : methods) want.insert(m->name);
    std::set<std::string> have = string_keys(L, -1);
    std::set<std::string> undeclared, unregistered;
    for (auto& n : have)
      if (!want.count(n)) undeclared.insert(n);
    for (auto& n : want)
      if (!have.count(n)) unregistered.insert(n);
    EXPECT_TRUE(undeclared.empty()) << "registered without a declaration: " << join(undeclared);
    EXPECT_TRUE(unregistered.empty()) << "declared but not registered: " << join(unregistered);
    // Each registered value is the declared function, or a wrapper closing over it.
    for (auto* m : methods) {
      lua_getfield(L, -1, m->name);
      bool same = lua_tocfunction(L, -1) == m->fn;
      if (!same && lua_iscfunction(L, -1) && lua_getupvalue(L, -1, 1)) {
        same = lua_tocfunction(L, -1) == m->fn;
        lua_pop(L, 1);
      }
      EXPECT_TRUE(same) << m->name << " is not the declared function";
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
}

TEST_F(ApiDeclState, EveryProviumMetatableIsDeclared) {
  auto declared = declared_by_meta();
  std::set<std::string> metas;
  lua_pushnil(L);
  while (lua_next(L, LUA_REGISTRYINDEX)) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_istable(L, -1)) {
      std::string key = lua_tostring(L, -2);
      if (key.rfind("provium.", 0) == 0) metas.insert(key);
    }
    lua_pop(L, 1);
  }
  ASSERT_GE(metas.size(), declared.size());
  for (auto& meta : metas) {
    if (!push_method_table(L, meta)) continue;  // no named methods (none today)
    lua_pop(L, 1);
    EXPECT_TRUE(declared.count(meta)) << meta << " has methods but no declaration";
  }
}

TEST(ApiDecl, EachClassHasOneMetatableAndEachMethodOneDeclaration) {
  std::map<std::string, std::string> meta_of;
  std::map<std::string, std::set<std::string>> names;
  for (const TypeDecl* t : api_types()) {
    auto [it, fresh] = meta_of.emplace(t->lua_class, t->meta);
    EXPECT_EQ(it->second, t->meta) << t->lua_class << " is declared with two metatables";
    for (std::size_t i = 0; i < t->count; ++i)
      EXPECT_TRUE(names[t->lua_class].insert(t->methods[i].name).second)
          << t->lua_class << ":" << t->methods[i].name << " is declared twice";
  }
  std::set<std::string> metas;
  for (auto& [cls, meta] : meta_of)
    EXPECT_TRUE(metas.insert(meta).second) << meta << " belongs to two classes";
}

TEST(ApiDecl, DeclarationsAreComplete) {
  for (const TypeDecl* t : api_types()) {
    ASSERT_NE(t->lua_class, nullptr);
    ASSERT_NE(t->meta, nullptr);
    ASSERT_GT(t->count, 0u) << t->lua_class;
    for (std::size_t i = 0; i < t->count; ++i) {
      const Method& m = t->methods[i];
      ASSERT_NE(m.name, nullptr) << t->lua_class;
      std::string where = std::string(t->lua_class) + ":" + m.name;
      EXPECT_NE(m.fn, nullptr) << where;
      ASSERT_NE(m.doc, nullptr) << where;
      ASSERT_NE(m.returns, nullptr) << where;
      ASSERT_NE(m.params, nullptr) << where;
      std::string doc = m.doc;
      EXPECT_FALSE(doc.empty()) << where << ": empty doc";
      EXPECT_EQ(doc.find('\n'), std::string::npos) << where << ": doc is more than one line";
      EXPECT_FALSE(std::string(m.returns).empty()) << where << ": empty returns (\"nil\": none)";
      EXPECT_NO_THROW(parse_params(m.params)) << where << ": params `" << m.params << "`";
    }
  }
}

TEST(ApiDecl, ParamsParse) {
  auto p = parse_params("cmd: string|string[], opts?: {timeout?: Duration, env?: table}");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].name, "cmd");
  EXPECT_EQ(p[0].type, "string|string[]");
  EXPECT_FALSE(p[0].optional);
  EXPECT_EQ(p[1].name, "opts");
  EXPECT_EQ(p[1].type, "{timeout?: Duration, env?: table}");
  EXPECT_TRUE(p[1].optional);
  p = parse_params("fn: fun(b: Batch, n: integer), ...");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].type, "fun(b: Batch, n: integer)");
  EXPECT_EQ(p[1].name, "...");
  EXPECT_EQ(p[1].type, "");
  EXPECT_TRUE(parse_params("").empty());
  EXPECT_THROW(parse_params("path"), std::invalid_argument);
  EXPECT_THROW(parse_params("a: {x: integer"), std::invalid_argument);
  EXPECT_THROW(parse_params("..., a: integer"), std::invalid_argument);
}

TEST(ApiDecl, TypesLuaHasEveryMethodAndLoads) {
  std::string types = provium::lua::render_types_lua();
  EXPECT_EQ(types.rfind("---@meta", 0), 0u);
  for (const TypeDecl* t : api_types())
    for (std::size_t i = 0; i < t->count; ++i) {
      std::string stub = std::string("function ") + t->lua_class + ":" + t->methods[i].name + "(";
      EXPECT_NE(types.find(stub), std::string::npos) << stub;
    }
  for (const char* cls : {"Lab", "Vm", "Bridge", "RunResult"})
    EXPECT_NE(types.find(std::string("---@class ") + cls + "\n"), std::string::npos) << cls;
  lua_State* L = luaL_newstate();
  int rc = luaL_loadstring(L, types.c_str());
  EXPECT_EQ(rc, LUA_OK) << (lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
  lua_close(L);
}

}  // namespace
