// Listing stand-ins (standins.cpp): while `provium list` evaluates a file, every method that
// would reach a guest returns a stand-in of its declared result instead.
#pragma once

struct lua_State;

namespace provium::lua {

/// Installs the stand-ins in a listing state (after every registration and the prelude).
void install_listing_standins(lua_State* L);
/// Pushes the stand-in of a value of LuaLS type `type` (a declared class, a scalar, a table
/// shape), as a method of `cls` returning it would (for tests).
void push_listing_standin(lua_State* L, const char* type, const char* cls);

}  // namespace provium::lua
