// The one conversion layer between Lua values and MetaValue (REFERENCE §11.4).
#pragma once

#include <string>
#include <vector>

#include "events/meta_value.hpp"

struct lua_State;

namespace provium::lua {

/// Converts the value at `idx`. Functions, userdata, threads and cycles become Null; each such
/// value is described in `problems` ("meta.key: unsupported type function") when given.
events::MetaValue to_meta_value(lua_State* L, int idx, std::vector<std::string>* problems = nullptr,
                                const std::string& path = "meta");

/// Converts a meta table (string keys at top level) to a MetaMap.
events::MetaMap to_meta_map(lua_State* L, int idx, std::vector<std::string>* problems = nullptr);

/// Pushes a MetaValue as a Lua value (Bytes become strings, Null becomes nil).
void push_meta_value(lua_State* L, const events::MetaValue& v);

}  // namespace provium::lua
