// The LSP stubs are checked against the binding registration tables: every method provium
// registers on Lab and Vm must be typed in types.lua (defined once, checked everywhere).
#include <gtest/gtest.h>
#include <lua.hpp>
#include <types_lua.hpp>

#include <string>
#include <vector>

#include "lua/bindings.hpp"
#include "lua/lab_vm.hpp"

namespace {

std::vector<std::string> method_names(lua_State* L, const char* meta, const char* field) {
  std::vector<std::string> out;
  luaL_getmetatable(L, meta);
  lua_getfield(L, -1, field);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    if (lua_type(L, -2) == LUA_TSTRING) out.emplace_back(lua_tostring(L, -2));
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
  return out;
}

TEST(LspTypes, EveryRegisteredMethodIsTyped) {
  lua_State* L = luaL_newstate();
  luaL_openlibs(L);
  provium::lua::register_lab(L);
  provium::lua::register_vm(L);
  std::string types = kTypesLua;
  auto lab = method_names(L, provium::lua::kLabMeta, "__methods");
  auto vm = method_names(L, provium::lua::kVmMeta, "__index");
  ASSERT_GT(lab.size(), 10u);
  ASSERT_GT(vm.size(), 10u);
  for (auto& m : lab) EXPECT_NE(types.find("function Lab:" + m + "("), std::string::npos) << m;
  for (auto& m : vm) EXPECT_NE(types.find("function Vm:" + m + "("), std::string::npos) << m;
  lua_close(L);
}

TEST(LspTypes, StartsWithMetaAnnotation) { EXPECT_EQ(std::string(kTypesLua).rfind("---@meta", 0), 0u); }

}  // namespace
