#include "lua/support.hpp"

#include "lua/context.hpp"
#include "util/duration.hpp"

namespace provium::lua {

namespace {
const char kCacheKey = 0;  // registry key of the weak userdata cache (address is the key)
}

void set_context(lua_State* L, FileContext* ctx) {
  *static_cast<FileContext**>(lua_getextraspace(L)) = ctx;
}

FileContext& context(lua_State* L) { return **static_cast<FileContext**>(lua_getextraspace(L)); }

void raise(lua_State* L, const std::string& msg) {
  luaL_where(L, 1);
  lua_pushlstring(L, msg.data(), msg.size());
  lua_concat(L, 2);
  lua_error(L);
  std::terminate();  // lua_error never returns
}

std::string type_of(lua_State* L, int idx) { return luaL_typename(L, idx); }

std::optional<double> opt_duration(lua_State* L, int idx, const char* what) {
  if (lua_isnoneornil(L, idx)) return std::nullopt;
  return check_duration(L, idx, what);
}

double check_duration(lua_State* L, int idx, const char* what) {
  if (lua_type(L, idx) == LUA_TNUMBER) {
    auto p = util::check_duration_seconds(lua_tonumber(L, idx));
    if (!p) raise(L, fmt::format("{}: {}", what, p.error));
    return *p.value;
  }
  if (lua_type(L, idx) == LUA_TSTRING) {
    auto p = util::parse_duration_seconds(lua_tostring(L, idx));
    if (!p) raise(L, fmt::format("{}: {}", what, p.error));
    return *p.value;
  }
  raise(L, fmt::format(
               "{}: expected a duration (number of seconds or a string like \"500ms\"), got {}",
               what, type_of(L, idx)));
}

void new_meta(lua_State* L, const TypeDecl& t, lua_CFunction gc, lua_CFunction tostr) {
  luaL_newmetatable(L, t.meta);
  lua_newtable(L);
  register_methods(L, t, -1);
  lua_setfield(L, -2, "__index");
  if (gc) {
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
  }
  if (tostr) {
    lua_pushcfunction(L, tostr);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
}

bool push_cached(lua_State* L, const void* key) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &kCacheKey) != LUA_TTABLE) {
    lua_pop(L, 1);
    return false;
  }
  if (lua_rawgetp(L, -1, key) == LUA_TNIL) {
    lua_pop(L, 2);
    return false;
  }
  lua_remove(L, -2);
  return true;
}

void store_cached(lua_State* L, const void* key, int idx) {
  idx = lua_absindex(L, idx);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &kCacheKey) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_newtable(L);
    lua_pushliteral(L, "v");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &kCacheKey);
  }
  lua_pushvalue(L, idx);
  lua_rawsetp(L, -2, key);
  lua_pop(L, 1);
}

}  // namespace provium::lua
