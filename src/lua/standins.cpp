// Listing stand-ins (issue 17): `provium list` runs each file's top-level chunk without
// booting, building or touching the host, yet helpers written for real VMs must keep going so
// every test() is listed. While listing, every method that would reach a guest returns a
// stand-in of its declared result (src/lua/api.hpp): "" for strings, 0 for numbers, true for
// booleans, a RunResult that exited 0 with empty output, a syscall result with out_bufs sized
// like the request, and for object types (Process, Worker, Stream, Console, Clock, Snapshot,
// Capture, Nic, ...) a stand-in object whose methods behave the same way. Everything is derived
// from the declarations, so a new method is covered without touching this file.
#include "lua/standins.hpp"

#include <fmt/format.h>

#include <lua.hpp>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "lua/api.hpp"
#include "lua/lab_vm.hpp"
#include "lua/net_objects.hpp"

namespace provium::lua {
namespace {

// Methods of graph objects that stay real while listing: they only name, create or connect
// things (already inert where they would act), and helpers rely on what they return.
const std::map<std::string, std::set<std::string>> kRealWhileListing = {
    {"Vm", {"name", "profile", "state", "cid", "boot", "shutdown", "close"}},
};
// Classes whose methods stay real unless named here (graph objects: Lab, Bridge).
const std::map<std::string, std::set<std::string>> kStandinOnGraphs = {
    {"Lab", {"snapshot", "restore"}},
    // These would make the file's network namespace (or act in it).
    {"Bridge", {"capture", "enable_uplink", "disable_uplink", "nic"}},
};

std::map<std::string, std::vector<const Method*>>& methods_by_class() {
  static std::map<std::string, std::vector<const Method*>> by_class = [] {
    std::map<std::string, std::vector<const Method*>> m;
    for (auto* t : api_types())
      for (std::size_t i = 0; i < t->count; ++i) m[t->lua_class].push_back(&t->methods[i]);
    return m;
  }();
  return by_class;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// Splits `s` at `sep` outside braces and brackets.
std::vector<std::string_view> split_top(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '{' || s[i] == '[' || s[i] == '(') ++depth;
    if (s[i] == '}' || s[i] == ']' || s[i] == ')') --depth;
    if (s[i] == sep && depth == 0) {
      out.push_back(trim(s.substr(start, i - start)));
      start = i + 1;
    }
  }
  out.push_back(trim(s.substr(start)));
  return out;
}

void push_standin_object(lua_State* L, const std::string& cls);
void push_any(lua_State* L);

// The `bufs` of a raw-syscall request (`vm:syscall(nr, {bufs = {...}})`), copied: what the
// real call hands back in out_bufs.
void push_out_bufs(lua_State* L) {
  lua_newtable(L);
  int top = lua_gettop(L);
  for (int i = 2; i < top; ++i) {
    if (!lua_istable(L, i)) continue;
    if (lua_getfield(L, i, "bufs") == LUA_TTABLE) {
      for (lua_Integer k = 1, n = luaL_len(L, -1); k <= n; ++k) {
        lua_rawgeti(L, -1, k);
        lua_rawseti(L, top, k);
      }
    }
    lua_pop(L, 1);
  }
}

// Pushes one value of LuaLS type `type` for a call of a method of `cls` (self at index 1).
void push_of_type(lua_State* L, std::string_view type, const std::string& cls) {
  auto alts = split_top(type, '|');
  type = alts.front();
  for (auto a : alts)
    if (a != "nil") {
      type = a;
      break;
    }
  if (type.ends_with(" ...")) type.remove_suffix(4);
  if (type == cls && lua_gettop(L) >= 1) {
    lua_pushvalue(L, 1);
  } else if (type == "string") {
    lua_pushliteral(L, "");
  } else if (type == "integer" || type == "number") {
    lua_pushinteger(L, 0);
  } else if (type == "boolean") {
    lua_pushboolean(L, 1);
  } else if (type.ends_with("[]") || type == "table") {
    lua_newtable(L);
  } else if (type.starts_with("{") && type.ends_with("}")) {
    lua_newtable(L);
    int t = lua_gettop(L);
    for (auto field : split_top(type.substr(1, type.size() - 2), ',')) {
      auto colon = field.find(':');
      if (colon == std::string_view::npos) continue;
      std::string name(trim(field.substr(0, colon)));
      if (name.ends_with("?")) continue;
      if (name == "out_bufs")
        push_out_bufs(L);
      else
        push_of_type(L, trim(field.substr(colon + 1)), cls);
      lua_setfield(L, t, name.c_str());
    }
  } else if (type == "RunResult") {
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, 0);
    lua_setfield(L, -2, "exit_code");
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "stdout");
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "stderr");
    lua_pushliteral(L, "exited");
    lua_setfield(L, -2, "status");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "timed_out");
    luaL_setmetatable(L, "provium.RunResult");
  } else if (methods_by_class().count(std::string(type))) {
    push_standin_object(L, std::string(type));
  } else {
    push_any(L);
  }
}

// vm:batch(fn): fn queues ops on a recorder; the result is one {ok = <stand-in of that op>}
// per queued op, in order.
int standin_batch(lua_State* L) {
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_newtable(L);  // the queued op names
  int names = lua_gettop(L);
  lua_newtable(L);  // the recorder
  lua_newtable(L);  // its metatable
  lua_pushvalue(L, names);
  lua_pushcclosure(
      L,
      [](lua_State* Ls) -> int {
        std::string op = luaL_checkstring(Ls, 2);
        lua_pushvalue(Ls, lua_upvalueindex(1));
        lua_pushstring(Ls, op.c_str());
        lua_pushcclosure(
            Ls,
            [](lua_State* Lc) -> int {
              lua_pushvalue(Lc, lua_upvalueindex(1));
              lua_pushvalue(Lc, lua_upvalueindex(2));
              lua_rawseti(Lc, -2, luaL_len(Lc, -2) + 1);
              return 0;
            },
            2);
        return 1;
      },
      1);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, -2);
  lua_call(L, 1, 0);
  lua_settop(L, names);
  lua_Integer n = luaL_len(L, names);
  lua_createtable(L, static_cast<int>(n), 0);
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_rawgeti(L, names, i);
    std::string op = lua_tostring(L, -1);
    lua_pop(L, 1);
    lua_newtable(L);
    std::string returns = "any";
    for (auto* m : methods_by_class()["Vm"])
      if (op == m->name) returns = m->returns;
    if (returns == "nil") returns = "boolean";  // `ok` is present even for ops without a value
    push_of_type(L, returns, "Vm");
    lua_setfield(L, -2, "ok");
    lua_rawseti(L, -2, i);
  }
  return 1;
}

// A stand-in method: upvalue 1 the declaration, upvalue 2 its class name.
int standin_call(lua_State* L) {
  auto* m = static_cast<const Method*>(lua_touserdata(L, lua_upvalueindex(1)));
  std::string cls = lua_tostring(L, lua_upvalueindex(2));
  if (cls == "Vm" && std::string_view(m->name) == "batch") return standin_batch(L);
  std::string_view returns = m->returns;
  if (returns.empty() || returns == "nil") return 0;
  int base = lua_gettop(L);
  push_of_type(L, returns, cls);
  return lua_gettop(L) - base;
}

void push_standin_method(lua_State* L, const Method* m, const std::string& cls) {
  lua_pushlightuserdata(L, const_cast<Method*>(m));
  lua_pushstring(L, cls.c_str());
  lua_pushcclosure(L, standin_call, 2);
}

void push_standin_object(lua_State* L, const std::string& cls) {
  std::string meta = "provium.standin." + cls;
  if (luaL_newmetatable(L, meta.c_str())) {
    lua_newtable(L);
    for (auto* m : methods_by_class()[cls]) {
      push_standin_method(L, m, cls);
      lua_setfield(L, -2, m->name);
    }
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, fmt::format("{} (listing stand-in)", cls).c_str());
    lua_pushcclosure(
        L, [](lua_State* Ls) -> int { return lua_pushvalue(Ls, lua_upvalueindex(1)), 1; }, 1);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
  lua_newtable(L);
  luaL_setmetatable(L, meta.c_str());
}

// A value of a type nothing declares: every method returns another such value.
void push_any(lua_State* L) {
  if (luaL_newmetatable(L, "provium.standin.any")) {
    lua_pushcfunction(L, [](lua_State* Ls) -> int {
      lua_pushcfunction(Ls, [](lua_State* Lc) -> int {
        push_any(Lc);
        return 1;
      });
      return 1;
    });
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, [](lua_State* Ls) -> int {
      lua_pushliteral(Ls, "listing stand-in");
      return 1;
    });
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
  lua_newtable(L);
  luaL_setmetatable(L, "provium.standin.any");
}

// Replaces `names` (or every method not in `keep`) of class `cls` in the method table of its
// metatable (`field`: "__index" or "__methods").
void replace_methods(lua_State* L, const std::string& cls, const char* meta, const char* field,
                     const std::set<std::string>* only, const std::set<std::string>* keep) {
  luaL_getmetatable(L, meta);
  if (!lua_istable(L, -1) || lua_getfield(L, -1, field) != LUA_TTABLE) {
    lua_settop(L, lua_gettop(L) - 2);
    return;
  }
  for (auto* m : methods_by_class()[cls]) {
    if (only && !only->count(m->name)) continue;
    if (keep && keep->count(m->name)) continue;
    push_standin_method(L, m, cls);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 2);
}

}  // namespace

void push_listing_standin(lua_State* L, const char* type, const char* cls) {
  push_of_type(L, type, cls);
}

void install_listing_standins(lua_State* L) {
  replace_methods(L, "Vm", kVmMeta, "__index", nullptr, &kRealWhileListing.at("Vm"));
  replace_methods(L, "Lab", kLabMeta, "__methods", &kStandinOnGraphs.at("Lab"), nullptr);
  replace_methods(L, "Bridge", kBridgeMeta, "__index", &kStandinOnGraphs.at("Bridge"), nullptr);
  // wait_until returns at once, as if the condition had held.
  lua_pushcfunction(L, [](lua_State* Ls) -> int {
    lua_pushboolean(Ls, 1);
    return 1;
  });
  lua_setglobal(L, "wait_until");
}

}  // namespace provium::lua
