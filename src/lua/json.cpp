// The `json` global (REFERENCE §4.9): encode/decode on the host with nlohmann-json.
#include <fmt/format.h>
#include <lua.hpp>

#include <nlohmann/json.hpp>
#include <set>

#include "lua/bindings.hpp"
#include "lua/support.hpp"

namespace provium::lua {
namespace {

using nlohmann::json;

json encode_value(lua_State* L, int idx, std::set<const void*>& visiting);

json encode_table(lua_State* L, int idx, std::set<const void*>& visiting) {
  const void* id = lua_topointer(L, idx);
  if (!visiting.insert(id).second) throw std::runtime_error("json.encode: cannot encode a table with a cycle");
  lua_Integer max_key = 0;
  bool array = true;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) == LUA_TNUMBER && lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1)
      max_key = std::max(max_key, lua_tointeger(L, -2));
    else
      array = false;
    lua_pop(L, 1);
  }
  json out;
  if (array) {
    out = json::array();
    for (lua_Integer i = 1; i <= max_key; ++i) {
      lua_rawgeti(L, idx, i);
      out.push_back(lua_isnil(L, -1) ? json(nullptr) : encode_value(L, lua_gettop(L), visiting));
      lua_pop(L, 1);
    }
  } else {
    out = json::object();
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      std::string key;
      if (lua_type(L, -2) == LUA_TSTRING) {
        key = lua_tostring(L, -2);
      } else if (lua_type(L, -2) == LUA_TNUMBER) {
        size_t len;
        const char* s = luaL_tolstring(L, -2, &len);
        key.assign(s, len);
        lua_pop(L, 1);
      } else {
        throw std::runtime_error(fmt::format("json.encode: cannot use a {} as an object key",
                                             luaL_typename(L, -2)));
      }
      out[key] = encode_value(L, lua_gettop(L), visiting);
      lua_pop(L, 1);
    }
  }
  visiting.erase(id);
  return out;
}

json encode_value(lua_State* L, int idx, std::set<const void*>& visiting) {
  switch (lua_type(L, idx)) {
    case LUA_TNIL: return nullptr;
    case LUA_TBOOLEAN: return bool(lua_toboolean(L, idx));
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) return static_cast<std::int64_t>(lua_tointeger(L, idx));
      return lua_tonumber(L, idx);
    case LUA_TSTRING: {
      size_t len;
      const char* s = lua_tolstring(L, idx, &len);
      return std::string(s, len);
    }
    case LUA_TTABLE: return encode_table(L, idx, visiting);
    default:
      throw std::runtime_error(fmt::format("json.encode: cannot encode a {}", luaL_typename(L, idx)));
  }
}

int json_encode(lua_State* L) {
  luaL_checkany(L, 1);
  std::set<const void*> visiting;
  json j = encode_value(L, 1, visiting);
  std::string out;
  try {
    out = j.dump();
  } catch (const json::type_error&) {
    throw std::runtime_error("json.encode: string is not valid UTF-8 (JSON text must be UTF-8)");
  }
  lua_pushlstring(L, out.data(), out.size());
  return 1;
}

void push_json(lua_State* L, const json& j) {
  luaL_checkstack(L, 4, "json.decode: nesting too deep");
  switch (j.type()) {
    case json::value_t::null: lua_pushnil(L); break;
    case json::value_t::boolean: lua_pushboolean(L, j.get<bool>()); break;
    case json::value_t::number_integer: lua_pushinteger(L, j.get<std::int64_t>()); break;
    case json::value_t::number_unsigned:
      // u64 above i64 keeps its bit pattern (wraps negative), as the original did.
      lua_pushinteger(L, static_cast<lua_Integer>(j.get<std::uint64_t>()));
      break;
    case json::value_t::number_float: lua_pushnumber(L, j.get<double>()); break;
    case json::value_t::string: {
      auto& s = j.get_ref<const std::string&>();
      lua_pushlstring(L, s.data(), s.size());
      break;
    }
    case json::value_t::array: {
      lua_createtable(L, static_cast<int>(j.size()), 0);
      lua_Integer i = 0;
      for (auto& e : j) {
        ++i;
        if (e.is_null()) continue;  // a hole
        push_json(L, e);
        lua_rawseti(L, -2, i);
      }
      break;
    }
    case json::value_t::object: {
      lua_createtable(L, 0, static_cast<int>(j.size()));
      for (auto& [k, v] : j.items()) {
        if (v.is_null()) continue;  // null members are dropped
        lua_pushlstring(L, k.data(), k.size());
        push_json(L, v);
        lua_rawset(L, -3);
      }
      break;
    }
    default: lua_pushnil(L); break;
  }
}

int json_decode(lua_State* L) {
  size_t len;
  const char* s = luaL_checklstring(L, 1, &len);
  json j;
  try {
    j = json::parse(s, s + len);
  } catch (const json::parse_error& e) {
    throw std::runtime_error(fmt::format("json.decode: invalid JSON at byte {}: {}", e.byte,
                                         e.what()));
  }
  push_json(L, j);
  return 1;
}

}  // namespace

void register_json(lua_State* L) {
  static const luaL_Reg fns[] = {{"encode", guarded<json_encode>}, {"decode", guarded<json_decode>},
                                 {nullptr, nullptr}};
  luaL_newlib(L, fns);
  lua_setglobal(L, "json");
}

}  // namespace provium::lua
