// Helpers every binding file uses: raising Lua errors from C++ safely, checking arguments,
// reading durations, and userdata boxing of shared_ptr-owned objects.
#pragma once

#include <fmt/format.h>

#include <exception>
#include <lua.hpp>
#include <memory>
#include <new>
#include <optional>
#include <string>

#include "lua/api.hpp"

namespace provium::lua {

/// Raises `msg` as a Lua error with the caller's position prepended (like luaL_error).
[[noreturn]] void raise(lua_State* L, const std::string& msg);

/// Wraps a binding so C++ exceptions become Lua errors carrying their message. Lua's own errors
/// (thrown by the C++-built Lua as its internal type) pass through untouched.
template <int (*F)(lua_State*)>
int guarded(lua_State* L) {
  std::string err;
  try {
    return F(L);
  } catch (const std::exception& e) {
    err = e.what();
  }
  raise(L, err);
}

/// Runs `f`, a call into the domain, and raises "<what>: <its error>" when it throws (the Lua
/// error is raised outside the handler, once the C++ exception is gone).
template <typename F>
void call_domain(lua_State* L, const std::string& what, F&& f) {
  std::string err;
  try {
    f();
    return;
  } catch (const std::exception& e) {
    err = what.empty() ? std::string(e.what()) : what + ": " + e.what();
  }
  raise(L, err);
}

/// Reads a duration argument (number of seconds or "500ms"/"30s"/...); raises naming `what`.
double check_duration(lua_State* L, int idx, const char* what);
std::optional<double> opt_duration(lua_State* L, int idx, const char* what);

/// Creates metatable `t.meta` with `t`'s declared methods as __index and the optional __gc /
/// __tostring.
void new_meta(lua_State* L, const TypeDecl& t, lua_CFunction gc, lua_CFunction tostr = nullptr);

/// Lua type name of the value at idx, for messages.
std::string type_of(lua_State* L, int idx);

/// Boxes a shared_ptr<T> in a userdata with metatable `tname`; identity is preserved: the same
/// object always yields the same userdata (a weak cache in the registry).
template <typename T>
void push_shared(lua_State* L, const std::shared_ptr<T>& obj, const char* tname);

template <typename T>
std::shared_ptr<T>* test_shared(lua_State* L, int idx, const char* tname) {
  return static_cast<std::shared_ptr<T>*>(luaL_testudata(L, idx, tname));
}

template <typename T>
const std::shared_ptr<T>& check_shared(lua_State* L, int idx, const char* tname, const char* what) {
  auto* p = test_shared<T>(L, idx, tname);
  if (!p)
    raise(L, fmt::format("{}: expected {} as argument #{}, got {}", what, tname, idx,
                         type_of(L, idx)));
  return *p;
}

/// Pushes the cached userdata for `key` if alive; returns false otherwise.
bool push_cached(lua_State* L, const void* key);
void store_cached(lua_State* L, const void* key, int idx);

template <typename T>
int gc_shared(lua_State* L) {
  auto* p = static_cast<std::shared_ptr<T>*>(lua_touserdata(L, 1));
  if (p) p->~shared_ptr<T>();
  return 0;
}

template <typename T>
void push_shared(lua_State* L, const std::shared_ptr<T>& obj, const char* tname) {
  if (push_cached(L, obj.get())) return;
  void* mem = lua_newuserdatauv(L, sizeof(std::shared_ptr<T>), 0);
  new (mem) std::shared_ptr<T>(obj);
  luaL_setmetatable(L, tname);
  store_cached(L, obj.get(), -1);
}

}  // namespace provium::lua
