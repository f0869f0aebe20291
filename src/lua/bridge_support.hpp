// Helpers the Bridge binding files share (bridge.cpp, bridge_faults.cpp): argument checks and
// the checked-then-realised-or-rolled-back graph change.
#pragma once

#include <fmt/format.h>

#include <map>
#include <set>
#include <string>
#include <utility>

#include "lua/context.hpp"
#include "lua/lab_vm.hpp"
#include "lua/net_objects.hpp"
#include "lua/support.hpp"

namespace provium::lua::bridge_detail {

// Runs `change` on the graph as one transaction (net::Bridge::change); raises on failure.
template <typename F>
void mutate(lua_State* L, BridgeUd& u, const char* what, F change) {
  auto& ctx = context(L);
  call_domain(L, what, [&] {
    if (!u.bridge->realised()) return change(*u.bridge);
    u.bridge->change(ctx.network.ns(), change);
  });
}

/// A VM argument (handle or name) that must be attached to the bridge: its member name.
std::string attached(lua_State* L, BridgeUd& u, int idx, const char* what);
/// {from=, to=} of a directional call: both attached names.
std::pair<std::string, std::string> from_to(lua_State* L, BridgeUd& u, int idx, const char* what);
/// A finite number >= 0 (raises naming `what` and `unit`).
double number_arg(lua_State* L, int idx, const char* what, const char* unit);
/// The Bridge at argument 1, refusing a closed one.
BridgeUd& self(lua_State* L, const char* what);

}  // namespace provium::lua::bridge_detail
