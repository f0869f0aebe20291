#include "lua/convert.hpp"

#include <fmt/format.h>
#include <lua.hpp>

#include <set>

#include "util/text.hpp"

namespace provium::lua {
namespace {

using events::MetaValue;

std::string key_text(lua_State* L, int key_idx) {
  // Integer keys are stringified ("1"), floats use Lua's own rendering, booleans "true".
  // Never calls metamethods: conversion runs outside any protected call.
  switch (lua_type(L, key_idx)) {
    case LUA_TSTRING: return lua_tostring(L, key_idx);
    case LUA_TNUMBER: {
      lua_pushvalue(L, key_idx);
      std::string out = lua_tostring(L, -1);
      lua_pop(L, 1);
      return out;
    }
    case LUA_TBOOLEAN: return lua_toboolean(L, key_idx) ? "true" : "false";
    default: return fmt::format("{}: {}", luaL_typename(L, key_idx), lua_topointer(L, key_idx));
  }
}

MetaValue convert(lua_State* L, int idx, std::vector<std::string>* problems, const std::string& path,
                  std::set<const void*>& visiting) {
  idx = lua_absindex(L, idx);
  switch (lua_type(L, idx)) {
    case LUA_TNIL:
    case LUA_TNONE:
      return {};
    case LUA_TBOOLEAN:
      return {bool(lua_toboolean(L, idx))};
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) return {std::int64_t(lua_tointeger(L, idx))};
      return {double(lua_tonumber(L, idx))};
    case LUA_TSTRING: {
      size_t len;
      const char* s = lua_tolstring(L, idx, &len);
      std::string str(s, len);
      if (util::is_valid_utf8(str)) return {std::move(str)};
      return {events::MetaBytes{std::move(str)}};
    }
    case LUA_TTABLE: {
      const void* id = lua_topointer(L, idx);
      if (visiting.count(id)) {
        if (problems) problems->push_back(fmt::format("{}: table contains a cycle", path));
        return {};
      }
      visiting.insert(id);
      // Decide per nesting level: keys exactly 1..N (or none) make an array.
      lua_Integer n = 0, count = 0;
      bool has_non_sequence = false;
      lua_pushnil(L);
      while (lua_next(L, idx)) {
        ++count;
        if (lua_type(L, -2) == LUA_TNUMBER && lua_isinteger(L, -2)) {
          lua_Integer k = lua_tointeger(L, -2);
          if (k >= 1) n = std::max(n, k);
          else has_non_sequence = true;
        } else {
          has_non_sequence = true;
        }
        lua_pop(L, 1);
      }
      MetaValue out;
      if (!has_non_sequence && n == count) {
        events::MetaArray arr;
        for (lua_Integer i = 1; i <= n; ++i) {
          lua_rawgeti(L, idx, i);
          arr.push_back(convert(L, -1, problems, fmt::format("{}[{}]", path, i), visiting));
          lua_pop(L, 1);
        }
        out.v = std::move(arr);
      } else {
        events::MetaMap map;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
          std::string k = key_text(L, -2);
          map[k] = convert(L, -1, problems, fmt::format("{}.{}", path, k), visiting);
          lua_pop(L, 1);
        }
        out.v = std::move(map);
      }
      visiting.erase(id);
      return out;
    }
    default:
      if (problems)
        problems->push_back(fmt::format(
            "{}: unsupported type {} (meta values are nil, booleans, numbers, strings and tables)",
            path, luaL_typename(L, idx)));
      return {};
  }
}

}  // namespace

events::MetaValue to_meta_value(lua_State* L, int idx, std::vector<std::string>* problems,
                                const std::string& path) {
  std::set<const void*> visiting;
  return convert(L, idx, problems, path, visiting);
}

events::MetaMap to_meta_map(lua_State* L, int idx, std::vector<std::string>* problems) {
  auto v = to_meta_value(L, idx, problems);
  if (auto m = v.as_map()) return *m;
  return {};  // the empty table (an array by shape) is the empty map here
}

void push_meta_value(lua_State* L, const events::MetaValue& mv) {
  std::visit(
      [L](auto&& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          lua_pushnil(L);
        } else if constexpr (std::is_same_v<T, bool>) {
          lua_pushboolean(L, x);
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          lua_pushinteger(L, x);
        } else if constexpr (std::is_same_v<T, double>) {
          lua_pushnumber(L, x);
        } else if constexpr (std::is_same_v<T, std::string>) {
          lua_pushlstring(L, x.data(), x.size());
        } else if constexpr (std::is_same_v<T, events::MetaBytes>) {
          lua_pushlstring(L, x.data.data(), x.data.size());
        } else if constexpr (std::is_same_v<T, events::MetaArray>) {
          lua_createtable(L, static_cast<int>(x.size()), 0);
          for (size_t i = 0; i < x.size(); ++i) {
            push_meta_value(L, x[i]);
            lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
          }
        } else {
          lua_createtable(L, 0, static_cast<int>(x.size()));
          for (auto& [k, v] : x) {
            push_meta_value(L, v);
            lua_setfield(L, -2, k.c_str());
          }
        }
      },
      mv.v);
}

}  // namespace provium::lua
