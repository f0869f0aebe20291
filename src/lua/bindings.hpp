// Registration entry points of the binding files, one per Lua object or global family.
#pragma once

struct lua_State;

namespace provium::lua {

void register_json(lua_State* L);       // json.cpp
void register_framework(lua_State* L);  // framework.cpp: _provium_sleep, _provium_now, ...
void register_lab(lua_State* L);        // lab.cpp: the Lab metatable
void register_vm(lua_State* L);         // vm.cpp: the Vm metatable

}  // namespace provium::lua
