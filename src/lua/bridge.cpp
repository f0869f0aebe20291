// lab:bridge() and the Bridge object (REFERENCE §5.13, §9): graph changes are checked first,
// applied to the graph, then realised (one nft transaction, one tc batch); if realising fails,
// the graph goes back to what it was and the rules are re-applied, so a failed call leaves the
// lab as it found it.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "lua/context.hpp"
#include "lua/convert.hpp"
#include "lua/lab_vm.hpp"
#include "lua/net_objects.hpp"
#include "lua/support.hpp"

namespace provium::lua {
namespace {

using Graph =
    std::tuple<std::set<std::pair<std::string, std::string>>, bool, std::set<std::string>,
               net::Impairment, std::map<std::pair<std::string, std::string>, net::Impairment>>;

Graph save(const net::Bridge& b) {
  return {b.blocked, b.fully_partitioned, b.isolated, b.whole, b.directional};
}
void load(net::Bridge& b, const Graph& g) {
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

// A VM argument (handle or name) that must be attached: its member name.
std::string attached(lua_State* L, BridgeUd& u, int idx, const char* what) {
  std::string name;
  if (auto v = test_shared<lab::Vm>(L, idx, kVmMeta)) {
    if (!u.bridge->member((*v).get()))
      raise(L,
            fmt::format("{}: vm `{}` is not attached to bridge `{}`; call bridge:attach(vm) first",
                        what, (*v)->name(), u.bridge->name()));
    return (*v)->name();
  }
  if (lua_type(L, idx) != LUA_TSTRING)
    raise(L, fmt::format("{}: expected a Vm or a VM name as argument #{}, got {}", what, idx,
                         type_of(L, idx)));
  name = lua_tostring(L, idx);
  if (!u.bridge->member_named(name))
    raise(L, fmt::format("{}: no vm `{}` is attached to bridge `{}` (members: {}); call "
                         "bridge:attach(vm) first",
                         what, name, u.bridge->name(), [&] {
                           std::string s;
                           for (auto& m : u.bridge->members())
                             s += (s.empty() ? "" : ", ") + m.name;
                           return s.empty() ? std::string("none") : s;
                         }()));
  return name;
}

// {from=, to=} of a directional call: both attached names.
std::pair<std::string, std::string> from_to(lua_State* L, BridgeUd& u, int idx, const char* what) {
  int t = lua_absindex(L, idx);
  lua_getfield(L, t, "from");
  lua_getfield(L, t, "to");
  if (lua_isnil(L, -2) || lua_isnil(L, -1))
    raise(L, fmt::format("{}: a directional call needs both `from` and `to`", what));
  auto from = attached(L, u, lua_absindex(L, -2), what);
  auto to = attached(L, u, lua_absindex(L, -1), what);
  lua_pop(L, 2);
  if (from == to) raise(L, fmt::format("{}: `from` and `to` are the same vm `{}`", what, from));
  return {from, to};
}

double number_arg(lua_State* L, int idx, const char* what, const char* unit) {
  if (lua_type(L, idx) != LUA_TNUMBER)
    raise(L, fmt::format("{}: expected a number of {}, got {}", what, unit, type_of(L, idx)));
  double v = lua_tonumber(L, idx);
  if (std::isnan(v) || std::isinf(v) || v < 0)
    raise(L, fmt::format("{}: {} must be a finite number >= 0, got {}", what, unit, v));
  return v;
}

BridgeUd& self(lua_State* L, const char* what) {
  auto& u = check_bridge(L, 1, what);
  if (u.closed) raise(L, fmt::format("{}: bridge `{}` is closed", what, u.bridge->name()));
  return u;
}

int bridge_name(lua_State* L) {
  lua_pushstring(L, check_bridge(L, 1, "bridge:name").bridge->name().c_str());
  return 1;
}

int bridge_subnet(lua_State* L) {
  lua_pushstring(L, check_bridge(L, 1, "bridge:subnet").bridge->subnet().c_str());
  return 1;
}

int bridge_members(lua_State* L) {
  auto& u = check_bridge(L, 1, "bridge:members");
  lua_newtable(L);
  int i = 1;
  for (auto& m : u.bridge->members()) {
    lua_pushstring(L, m.name.c_str());
    lua_rawseti(L, -2, i++);
  }
  return 1;
}

void attach_one(lua_State* L, BridgeUd& u, int idx, std::optional<std::string> address) {
  std::shared_ptr<lab::Vm> vm;
  if (auto v = test_shared<lab::Vm>(L, idx, kVmMeta))
    vm = *v;
  else if (lua_type(L, idx) == LUA_TSTRING) {
    auto lab = u.lab.lock();
    if (lab) vm = lab->find_vm(lua_tostring(L, idx));
    if (!vm)
      raise(L, fmt::format("bridge:attach: no vm `{}` in lab `{}`; create it with lab:vm() first",
                           lua_tostring(L, idx), lab ? lab->name() : "?"));
  } else {
    raise(L, fmt::format("bridge:attach: expected a Vm, a VM name or a list of them, got {}",
                         type_of(L, idx)));
  }
  if (vm->state() == lab::VmState::Booted || vm->state() == lab::VmState::Paused)
    raise(L, fmt::format("bridge:attach: vm `{}` is already booted; attach it before it boots "
                         "(NIC hot-plug is not supported)",
                         vm->name()));
  std::string err;
  try {
    u.bridge->attach(vm.get(), vm->name(), address);
  } catch (const std::exception& e) {
    err = e.what();
  }
  if (!err.empty()) raise(L, fmt::format("bridge:attach: bridge `{}`: {}", u.bridge->name(), err));
}

// b:attach(vm | "name" | {vm, ...}, opts?) with opts.address = "a.b.c.d" | false.
int bridge_attach(lua_State* L) {
  auto& u = self(L, "bridge:attach");
  std::optional<std::string> address;
  if (lua_istable(L, 3)) {
    lua_getfield(L, 3, "address");
    if (lua_isboolean(L, -1) && !lua_toboolean(L, -1))
      address = "";
    else if (lua_type(L, -1) == LUA_TSTRING)
      address = lua_tostring(L, -1);
    else if (!lua_isnil(L, -1))
      raise(L, "bridge:attach: address must be an IPv4 address string or false");
    lua_pop(L, 1);
  }
  if (lua_istable(L, 2) && !test_shared<lab::Vm>(L, 2, kVmMeta)) {
    // A list: validate every entry (by attaching to a scratch copy) before changing anything.
    lua_Integer n = luaL_len(L, 2);
    if (address && n > 1) raise(L, "bridge:attach: an explicit address applies to one VM only");
    net::Bridge probe(u.bridge->name(), 0, std::nullopt);
    for (auto& m : u.bridge->members()) probe.attach(m.vm, m.name, std::string());
    for (lua_Integer i = 1; i <= n; ++i) {
      lua_rawgeti(L, 2, i);
      if (auto v = test_shared<lab::Vm>(L, -1, kVmMeta)) {
        std::string err;
        try {
          probe.attach((*v).get(), (*v)->name(), std::string());
        } catch (const std::exception& e) {
          err = e.what();
        }
        if (!err.empty()) raise(L, fmt::format("bridge:attach: {}", err));
      }
      lua_pop(L, 1);
    }
    for (lua_Integer i = 1; i <= n; ++i) {
      lua_rawgeti(L, 2, i);
      attach_one(L, u, lua_gettop(L), address);
      lua_pop(L, 1);
    }
  } else {
    attach_one(L, u, 2, address);
  }
  lua_settop(L, 1);
  return 1;
}

int bridge_detach(lua_State* L) {
  auto& u = self(L, "bridge:detach");
  std::string name = attached(L, u, 2, "bridge:detach");
  auto* m = u.bridge->member_named(name);
  auto& ctx = context(L);
  u.bridge->detach(m->vm, ctx.network.has_ns() ? &ctx.network.ns() : nullptr);
  return 0;
}

int bridge_partition(lua_State* L) {
  auto& u = self(L, "bridge:partition");
  if (lua_istable(L, 2) && !test_shared<lab::Vm>(L, 2, kVmMeta)) {
    auto ft = from_to(L, u, 2, "bridge:partition");
    mutate(L, u, "bridge:partition", [&](net::Bridge& b) { b.blocked.insert(ft); });
    return 0;
  }
  auto a = attached(L, u, 2, "bridge:partition");
  auto c = attached(L, u, 3, "bridge:partition");
  if (a == c) raise(L, fmt::format("bridge:partition: both ends are vm `{}`", a));
  mutate(L, u, "bridge:partition", [&](net::Bridge& b) {
    b.blocked.insert({a, c});
    b.blocked.insert({c, a});
  });
  return 0;
}

int bridge_unpartition(lua_State* L) {
  auto& u = self(L, "bridge:unpartition");
  if (lua_istable(L, 2) && !test_shared<lab::Vm>(L, 2, kVmMeta)) {
    auto ft = from_to(L, u, 2, "bridge:unpartition");
    mutate(L, u, "bridge:unpartition", [&](net::Bridge& b) { b.blocked.erase(ft); });
    return 0;
  }
  auto a = attached(L, u, 2, "bridge:unpartition");
  auto c = attached(L, u, 3, "bridge:unpartition");
  mutate(L, u, "bridge:unpartition", [&](net::Bridge& b) {
    b.blocked.erase({a, c});
    b.blocked.erase({c, a});
  });
  return 0;
}

int bridge_partition_all(lua_State* L) {
  auto& u = self(L, "bridge:partition_all");
  mutate(L, u, "bridge:partition_all", [](net::Bridge& b) { b.fully_partitioned = true; });
  return 0;
}

int bridge_restore_all(lua_State* L) {
  auto& u = self(L, "bridge:restore_all");
  mutate(L, u, "bridge:restore_all", [](net::Bridge& b) {
    b.fully_partitioned = false;
    b.blocked.clear();
  });
  return 0;
}

int bridge_is_partitioned(lua_State* L) {
  auto& u = check_bridge(L, 1, "bridge:is_partitioned");
  auto a = attached(L, u, 2, "bridge:is_partitioned");
  auto c = attached(L, u, 3, "bridge:is_partitioned");
  lua_pushboolean(L, u.bridge->fully_partitioned || u.bridge->blocked.count({a, c}));
  return 1;
}

int bridge_isolate(lua_State* L) {
  auto& u = self(L, "bridge:isolate");
  auto a = attached(L, u, 2, "bridge:isolate");
  mutate(L, u, "bridge:isolate", [&](net::Bridge& b) { b.isolated.insert(a); });
  return 0;
}

int bridge_unisolate(lua_State* L) {
  auto& u = self(L, "bridge:unisolate");
  auto a = attached(L, u, 2, "bridge:unisolate");
  mutate(L, u, "bridge:unisolate", [&](net::Bridge& b) { b.isolated.erase(a); });
  return 0;
}

int bridge_is_isolated(lua_State* L) {
  auto& u = check_bridge(L, 1, "bridge:is_isolated");
  lua_pushboolean(L, u.bridge->isolated.count(attached(L, u, 2, "bridge:is_isolated")) > 0);
  return 1;
}

// The three impairments share one shape: a number for the whole bridge, or {from=, to=, <key>=}.
enum class Kind { Latency, Drop, Bandwidth };

int impair(lua_State* L, Kind kind, const char* what, bool directional_only) {
  auto& u = self(L, what);
  const char* key = kind == Kind::Latency ? "ms" : kind == Kind::Drop ? "p" : "bps";
  const char* unit = kind == Kind::Latency ? "milliseconds"
                     : kind == Kind::Drop  ? "percent"
                                           : "bits per second";
  auto check = [&](int idx) {
    double v = number_arg(L, idx, what, unit);
    if (kind == Kind::Drop && v > 100)
      raise(L, fmt::format("{}: a loss of {}% is above 100%", what, v));
    if (kind == Kind::Bandwidth && v < 1)
      raise(L, fmt::format("{}: a bandwidth of {} bit/s would stop all traffic; use "
                           "bridge:partition() for that, or bridge:reset() to lift the limit",
                           what, v));
    return v;
  };
  auto set = [&](net::Impairment& i, double v) {
    if (kind == Kind::Latency)
      i.latency_ms = v;
    else if (kind == Kind::Drop)
      i.drop_pct = v;
    else
      i.bandwidth_bps = static_cast<std::uint64_t>(v);
  };
  if (lua_istable(L, 2)) {
    auto ft = from_to(L, u, 2, what);
    lua_getfield(L, 2, key);
    if (lua_isnil(L, -1)) raise(L, fmt::format("{}: the table needs `{}` ({})", what, key, unit));
    double v = check(lua_gettop(L));
    double jitter = -1;
    if (kind == Kind::Latency) {
      lua_getfield(L, 2, "jitter");
      if (!lua_isnil(L, -1)) jitter = number_arg(L, lua_gettop(L), what, "milliseconds of jitter");
    }
    mutate(L, u, what, [&](net::Bridge& b) {
      auto& imp = b.directional[ft];
      set(imp, v);
      if (jitter >= 0) imp.jitter_ms = jitter;
      if (imp.empty()) b.directional.erase(ft);  // zero-valued entries are removed
    });
    return 0;
  }
  if (directional_only)
    raise(L, fmt::format("{}: expected {{from = vm, to = vm, {} = ...}}", what, key));
  double v = check(2);
  // add_latency(ms, jitter_ms?): the whole bridge.
  double jitter = kind == Kind::Latency && !lua_isnoneornil(L, 3)
                      ? number_arg(L, 3, what, "milliseconds of jitter")
                      : -1;
  mutate(L, u, what, [&](net::Bridge& b) {
    set(b.whole, v);
    if (jitter >= 0) b.whole.jitter_ms = jitter;
  });
  return 0;
}

int bridge_add_latency(lua_State* L) {
  return impair(L, Kind::Latency, "bridge:add_latency", false);
}
int bridge_add_dir_latency(lua_State* L) {
  return impair(L, Kind::Latency, "bridge:add_directional_latency", true);
}
int bridge_drop_rate(lua_State* L) { return impair(L, Kind::Drop, "bridge:drop_rate", false); }
int bridge_dir_drop_rate(lua_State* L) {
  return impair(L, Kind::Drop, "bridge:directional_drop_rate", true);
}
int bridge_bandwidth(lua_State* L) {
  return impair(L, Kind::Bandwidth, "bridge:bandwidth_limit", false);
}

int bridge_latency_ms(lua_State* L) {
  lua_pushnumber(L, check_bridge(L, 1, "bridge:latency_ms").bridge->whole.latency_ms);
  return 1;
}
int bridge_drop_rate_pct(lua_State* L) {
  lua_pushnumber(L, check_bridge(L, 1, "bridge:drop_rate_pct").bridge->whole.drop_pct);
  return 1;
}
int bridge_bandwidth_bps(lua_State* L) {
  lua_pushinteger(L, static_cast<lua_Integer>(
                         check_bridge(L, 1, "bridge:bandwidth_bps").bridge->whole.bandwidth_bps));
  return 1;
}

int bridge_reset(lua_State* L) {
  auto& u = self(L, "bridge:reset");
  mutate(L, u, "bridge:reset", [](net::Bridge& b) {
    b.whole = {};
    b.directional.clear();
    b.blocked.clear();
    b.fully_partitioned = false;
  });
  return 0;
}

// b:route(bridge | name | {bridge, ...}) records routes in the graph only (REFERENCE §5.13).
int bridge_route(lua_State* L) {
  auto& u = self(L, "bridge:route");
  std::vector<std::string> add;
  auto one = [&](int idx) {
    if (auto* other = static_cast<BridgeUd*>(luaL_testudata(L, idx, kBridgeMeta)))
      add.push_back(other->bridge->name());
    else if (lua_type(L, idx) == LUA_TSTRING)
      add.push_back(lua_tostring(L, idx));
    else
      raise(L, fmt::format("bridge:route: expected a Bridge or a bridge name, got {}",
                           type_of(L, idx)));
  };
  if (lua_istable(L, 2) && !luaL_testudata(L, 2, kBridgeMeta)) {
    for (lua_Integer i = 1, n = luaL_len(L, 2); i <= n; ++i) {
      lua_rawgeti(L, 2, i);
      one(lua_gettop(L));
      lua_pop(L, 1);
    }
  } else {
    one(2);
  }
  if (!u.bridge->route_warned) {
    u.bridge->route_warned = true;
    fmt::print(stderr,
               "provium: warning: {}: bridge:route() is recorded in the lab graph only; no packets "
               "are routed between bridges\n",
               context(L).file);
  }
  for (auto& r : add)
    if (std::find(u.bridge->routes.begin(), u.bridge->routes.end(), r) == u.bridge->routes.end())
      u.bridge->routes.push_back(r);
  return 0;
}

int bridge_routes(lua_State* L) {
  auto& u = check_bridge(L, 1, "bridge:routes");
  lua_newtable(L);
  int i = 1;
  for (auto& r : u.bridge->routes) {
    lua_pushstring(L, r.c_str());
    lua_rawseti(L, -2, i++);
  }
  return 1;
}

int bridge_nic(lua_State* L) {
  auto& u = check_bridge(L, 1, "bridge:nic");
  std::string name = attached(L, u, 2, "bridge:nic");
  std::shared_ptr<lab::Vm> vm;
  if (auto v = test_shared<lab::Vm>(L, 2, kVmMeta))
    vm = *v;
  else if (auto lab = u.lab.lock())
    vm = lab->find_vm(name);
  if (!vm) raise(L, fmt::format("bridge:nic: vm `{}` is not in lab scope any more", name));
  push_nic(L, u.bridge, vm);
  return 1;
}

int bridge_capture(lua_State* L) {
  auto& u = self(L, "bridge:capture");
  if (!u.bridge->realised())
    raise(L, fmt::format("bridge:capture: bridge `{}` does not exist yet (no attached VM has "
                         "booted); call lab:boot() / vm:boot() first",
                         u.bridge->name()));
  auto& ns = context(L).network.ns();
  std::string dev;
  std::string err;
  try {
    dev = u.bridge->start_capture(ns);
  } catch (const std::exception& e) {
    err = e.what();
  }
  if (!err.empty()) raise(L, "bridge:capture: " + err);
  push_capture(L, dev, fmt::format("capture of bridge `{}`", u.bridge->name()),
               [b = u.bridge, &ns] { b->stop_capture(ns); });
  return 1;
}

int bridge_uplink(lua_State* L, bool on, const char* what) {
  auto& u = self(L, what);
  auto& net = context(L).network;
  std::string err;
  try {
    std::uint16_t port = on ? net.uplink().port() : 0;
    u.bridge->set_uplink(net.ns(), on, port);
  } catch (const std::exception& e) {
    err = e.what();
  }
  if (!err.empty()) raise(L, fmt::format("{}: {}", what, err));
  return 0;
}
int bridge_enable_uplink(lua_State* L) { return bridge_uplink(L, true, "bridge:enable_uplink"); }
int bridge_disable_uplink(lua_State* L) { return bridge_uplink(L, false, "bridge:disable_uplink"); }

int bridge_gateway(lua_State* L) {
  lua_pushstring(L, check_bridge(L, 1, "bridge:gateway").bridge->gateway().c_str());
  return 1;
}

int bridge_close(lua_State* L) {
  auto& u = check_bridge(L, 1, "bridge:close");
  if (u.closed) return 0;
  u.closed = true;
  auto& ctx = context(L);
  if (u.bridge->realised() && ctx.network.has_ns()) {
    // TAPs go with their descriptors (the bridge object's), the bridge device here.
    ctx.network.ns().run({"nft", "delete", "table", "bridge", "provium_" + u.bridge->device()});
    ctx.network.ns().run({"nft", "delete", "table", "ip", "provium_uplink_" + u.bridge->device()});
    ctx.network.ns().run({"ip", "link", "del", u.bridge->device()});
  }
  if (auto lab = u.lab.lock()) lab->remove_bridge(u.bridge->name());
  return 0;
}

int bridge_tostring(lua_State* L) {
  auto& u = check_bridge(L, 1, "tostring");
  lua_pushstring(L, fmt::format("Bridge({})", u.bridge->name()).c_str());
  return 1;
}

int bridge_gc(lua_State* L) {
  static_cast<BridgeUd*>(lua_touserdata(L, 1))->~BridgeUd();
  return 0;
}

// lab:bridge(name) looks up or creates; lab:bridge(name, opts) creates.
int lab_bridge(lua_State* L) {
  auto& lab = check_shared<lab::Lab>(L, 1, kLabMeta, "lab:bridge");
  std::string name = luaL_checkstring(L, 2);
  auto& ctx = context(L);
  std::optional<std::string> subnet;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, 3)) {
      if (lua_type(L, -2) != LUA_TSTRING || std::string(lua_tostring(L, -2)) != "subnet")
        raise(L, fmt::format("lab:bridge: unknown option `{}` (accepted: subnet)",
                             luaL_tolstring(L, -2, nullptr)));
      lua_pop(L, 1);
    }
    lua_getfield(L, 3, "subnet");
    if (lua_type(L, -1) == LUA_TSTRING)
      subnet = lua_tostring(L, -1);
    else if (!lua_isnil(L, -1))
      raise(L, "lab:bridge: subnet must be a string like \"10.0.0.0/24\"");
    lua_pop(L, 1);
  }
  if (auto b = lab->find_bridge(name)) {
    if (subnet)
      raise(L, fmt::format("lab:bridge: bridge `{}` already exists; options apply only when it "
                           "is created",
                           name));
    push_bridge(L, b, lab);
    return 1;
  }
  if (name.empty()) raise(L, "lab:bridge: the name must not be empty");
  std::shared_ptr<net::Bridge> b;
  std::string err;
  try {
    b = ctx.network.create_bridge(name, subnet);
  } catch (const std::exception& e) {
    err = e.what();
  }
  if (!err.empty()) raise(L, fmt::format("lab:bridge: `{}`: {}", name, err));
  lab->add_bridge(b);
  push_bridge(L, b, lab);
  register_resource(L, lua_gettop(L), "bridge");
  return 1;
}

int lab_bridge_names(lua_State* L) {
  auto& lab = check_shared<lab::Lab>(L, 1, kLabMeta, "lab:bridge_names");
  lua_newtable(L);
  int i = 1;
  for (auto& [n, b] : lab->bridges()) {
    lua_pushstring(L, n.c_str());
    lua_rawseti(L, -2, i++);
  }
  return 1;
}

}  // namespace

void push_bridge(lua_State* L, const std::shared_ptr<net::Bridge>& b,
                 const std::shared_ptr<lab::Lab>& lab) {
  if (push_cached(L, b.get())) return;
  auto* u = static_cast<BridgeUd*>(lua_newuserdatauv(L, sizeof(BridgeUd), 0));
  new (u) BridgeUd{b, lab, false};
  luaL_setmetatable(L, kBridgeMeta);
  store_cached(L, b.get(), -1);
}

BridgeUd& check_bridge(lua_State* L, int idx, const char* what) {
  auto* u = static_cast<BridgeUd*>(luaL_testudata(L, idx, kBridgeMeta));
  if (!u) raise(L, fmt::format("{}: expected a Bridge, got {}", what, type_of(L, idx)));
  return *u;
}

void register_bridge(lua_State* L) {
  static const luaL_Reg m[] = {{"name", guarded<bridge_name>},
                               {"subnet", guarded<bridge_subnet>},
                               {"members", guarded<bridge_members>},
                               {"attach", guarded<bridge_attach>},
                               {"detach", guarded<bridge_detach>},
                               {"partition", guarded<bridge_partition>},
                               {"unpartition", guarded<bridge_unpartition>},
                               {"partition_all", guarded<bridge_partition_all>},
                               {"restore_all", guarded<bridge_restore_all>},
                               {"is_partitioned", guarded<bridge_is_partitioned>},
                               {"isolate", guarded<bridge_isolate>},
                               {"unisolate", guarded<bridge_unisolate>},
                               {"is_isolated", guarded<bridge_is_isolated>},
                               {"add_latency", guarded<bridge_add_latency>},
                               {"add_directional_latency", guarded<bridge_add_dir_latency>},
                               {"drop_rate", guarded<bridge_drop_rate>},
                               {"directional_drop_rate", guarded<bridge_dir_drop_rate>},
                               {"bandwidth_limit", guarded<bridge_bandwidth>},
                               {"latency_ms", guarded<bridge_latency_ms>},
                               {"drop_rate_pct", guarded<bridge_drop_rate_pct>},
                               {"bandwidth_bps", guarded<bridge_bandwidth_bps>},
                               {"reset", guarded<bridge_reset>},
                               {"nic", guarded<bridge_nic>},
                               {"route", guarded<bridge_route>},
                               {"routes", guarded<bridge_routes>},
                               {"capture", guarded<bridge_capture>},
                               {"enable_uplink", guarded<bridge_enable_uplink>},
                               {"disable_uplink", guarded<bridge_disable_uplink>},
                               {"gateway", guarded<bridge_gateway>},
                               {"close", guarded<bridge_close>},
                               {nullptr, nullptr}};
  new_meta(L, kBridgeMeta, m, bridge_gc, guarded<bridge_tostring>);
}

void register_lab_bridges(lua_State* L, int lab_methods) {
  lab_methods = lua_absindex(L, lab_methods);
  lua_pushcfunction(L, guarded<lab_bridge>);
  lua_setfield(L, lab_methods, "bridge");
  lua_pushcfunction(L, guarded<lab_bridge_names>);
  lua_setfield(L, lab_methods, "bridge_names");
}

}  // namespace provium::lua
