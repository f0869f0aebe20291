// A fresh Lua 5.4 state with the standard library, for tests of the Lua bindings.
#pragma once

#include <gtest/gtest.h>

#include <lua.hpp>
#include <string>

namespace provium::unit {

class LuaTest : public ::testing::Test {
 protected:
  LuaTest() : L(luaL_newstate()) { luaL_openlibs(L); }
  ~LuaTest() override { lua_close(L); }

  /// Runs `code`; on success its results stay on the stack. Returns the error text, or "".
  std::string Run(const std::string& code) {
    if (luaL_dostring(L, code.c_str()) == LUA_OK) return "";
    std::string err = lua_tostring(L, -1) ? lua_tostring(L, -1) : "(non-string error)";
    lua_pop(L, 1);
    return err;
  }

  /// Runs `code` and expects success; leaves its results on the stack.
  void MustRun(const std::string& code) {
    std::string err = Run(code);
    ASSERT_EQ(err, "") << "Lua error in: " << code;
  }

  lua_State* L;
};

}  // namespace provium::unit
