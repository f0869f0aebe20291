// Helpers the Bridge binding files share (bridge.cpp, bridge_faults.cpp): argument checks and
// the checked-then-realised-or-rolled-back graph change.
#pragma once

#include <fmt/format.h>

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "lua/context.hpp"
#include "lua/lab_vm.hpp"
#include "lua/net_objects.hpp"
#include "lua/support.hpp"

namespace provium::lua::bridge_detail {

using Graph =
    std::tuple<std::set<std::pair<std::string, std::string>>, bool, std::set<std::string>,
               net::Impairment, std::map<std::pair<std::string, std::string>, net::Impairment>>;

inline Graph save(const net::Bridge& b) {
  return {b.blocked, b.fully_partitioned, b.isolated, b.whole, b.directional};
}
inline void load(net::Bridge& b, const Graph& g) {
  std::tie(b.blocked, b.fully_partitioned, b.isolated, b.whole, b.directional) = g;
}

// Runs `change` on the graph and realises it; on failure restores the graph and raises.
template <typename F>
void mutate(lua_State* L, BridgeUd& u, const char* what, F change) {
  auto& b = *u.bridge;
  Graph before = save(b);
  change(b);
  if (!b.realised()) return;
  std::string err;
  try {
    auto& ns = context(L).network.ns();
    b.apply_rules(ns);
    b.apply_qdiscs(ns);
    b.apply_delays();
  } catch (const std::exception& e) {
    err = e.what();
  }
  if (err.empty()) return;
  load(b, before);
  try {
    auto& ns = context(L).network.ns();
    b.apply_rules(ns);
    b.apply_qdiscs(ns);
    b.apply_delays();
  } catch (const std::exception&) {
  }
  raise(L, fmt::format("{}: {} (the bridge's rules are unchanged)", what, err));
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
