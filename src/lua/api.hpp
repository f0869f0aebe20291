// The Lua API declared once: every named method of every Lua type is a `Method` in its binding
// file, and the binding registers it from that declaration.
#pragma once

#include <cstddef>
#include <lua.hpp>
#include <string>
#include <vector>

namespace provium::lua {

struct Method {
  const char* name;
  lua_CFunction fn;
  /// LuaLS parameter list without self: "cmd: string|string[], opts?: table"; "" for none;
  /// "..." (or "...: T") for a variable tail.
  const char* params;
  /// The text after `---@return`: a LuaLS type ("RunResult", "string|nil", "integer", a table
  /// shape like "{ret: integer, errno: integer, out_bufs: string[]}", "any ..." for several
  /// values), or "nil" when the method returns nothing.
  const char* returns;
  const char* doc;  // one line
};

/// One binding file's methods of one Lua class. A class whose methods live in several files
/// (Lab, Vm, Bridge) has one TypeDecl per file, all with the same lua_class and meta.
struct TypeDecl {
  const char* lua_class;  // LuaLS class name: "Vm"
  const char* meta;       // registry name of the metatable: "provium.Vm"
  const Method* methods;
  std::size_t count;
};

template <std::size_t N>
constexpr TypeDecl declare_type(const char* lua_class, const char* meta,
                                const Method (&methods)[N]) {
  return TypeDecl{lua_class, meta, methods, N};
}

/// Sets each declared method of `t` into the table at `table_idx`. With `wrap`, each is
/// registered as a closure of `wrap` whose first upvalue is the method's function.
void register_methods(lua_State* L, const TypeDecl& t, int table_idx, lua_CFunction wrap = nullptr);

/// One parameter of Method::params.
struct Param {
  std::string name;  // "..." for a variable tail
  std::string type;  // "" when not given (only for "...")
  bool optional = false;
};
/// Splits a params string; throws std::invalid_argument naming the bad entry.
std::vector<Param> parse_params(const std::string& params);

}  // namespace provium::lua
