// The Bridge's fault injection (REFERENCE §5.13, §9.3-9.4): partitions and isolation (nft),
// latency and jitter (the NIC pumps), loss (nft), bandwidth (tc HTB), reset, and graph-only
// routes. Every change goes through mutate(): checked first, realised, or rolled back.
#include <algorithm>

#include "lua/bridge_support.hpp"

namespace provium::lua::bridge_detail {
namespace {

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

// The Bridge's fault methods; `a`/`b`/`vm` are attached VMs (or their names), and a table
// {from =, to =, ...} makes a call one-directional.
constexpr Method kFaultMethods[] = {
    {"partition", guarded<bridge_partition>,
     "a: Vm|string|{from: Vm|string, to: Vm|string}, b?: Vm|string", "nil",
     "Drops traffic between `a` and `b` (both ways), or from `from` to `to`."},
    {"unpartition", guarded<bridge_unpartition>,
     "a: Vm|string|{from: Vm|string, to: Vm|string}, b?: Vm|string", "nil",
     "Lifts a partition made by partition()."},
    {"partition_all", guarded<bridge_partition_all>, "", "nil",
     "Drops all traffic between the bridge's VMs."},
    {"restore_all", guarded<bridge_restore_all>, "", "nil",
     "Lifts every partition (partition_all included)."},
    {"is_partitioned", guarded<bridge_is_partitioned>, "a: Vm|string, b: Vm|string", "boolean",
     "True when traffic from `a` to `b` is dropped."},
    {"isolate", guarded<bridge_isolate>, "vm: Vm|string", "nil",
     "Cuts one VM off from every other VM on the bridge."},
    {"unisolate", guarded<bridge_unisolate>, "vm: Vm|string", "nil", "Undoes isolate(vm)."},
    {"is_isolated", guarded<bridge_is_isolated>, "vm: Vm|string", "boolean",
     "True when the VM is isolated."},
    {"add_latency", guarded<bridge_add_latency>,
     "ms: number|{from: Vm|string, to: Vm|string, ms: number, jitter?: number}, jitter_ms?: number",
     "nil", "Delays packets on the whole bridge (or one direction) by `ms` +- jitter."},
    {"add_directional_latency", guarded<bridge_add_dir_latency>,
     "spec: {from: Vm|string, to: Vm|string, ms: number, jitter?: number}", "nil",
     "Delays packets from `from` to `to`."},
    {"drop_rate", guarded<bridge_drop_rate>,
     "pct: number|{from: Vm|string, to: Vm|string, p: number}", "nil",
     "Drops `pct` percent of packets on the whole bridge (or one direction)."},
    {"directional_drop_rate", guarded<bridge_dir_drop_rate>,
     "spec: {from: Vm|string, to: Vm|string, p: number}", "nil",
     "Drops `p` percent of the packets from `from` to `to`."},
    {"bandwidth_limit", guarded<bridge_bandwidth>,
     "bps: number|{from: Vm|string, to: Vm|string, bps: number}", "nil",
     "Limits the bandwidth of the whole bridge (or one direction) to `bps` bits per second."},
    {"latency_ms", guarded<bridge_latency_ms>, "", "number",
     "The whole bridge's added latency in milliseconds."},
    {"drop_rate_pct", guarded<bridge_drop_rate_pct>, "", "number",
     "The whole bridge's drop rate in percent."},
    {"bandwidth_bps", guarded<bridge_bandwidth_bps>, "", "number",
     "The whole bridge's bandwidth limit in bits per second (0: none)."},
    {"reset", guarded<bridge_reset>, "", "nil",
     "Lifts every impairment and partition (isolation and routes stay)."},
    {"route", guarded<bridge_route>, "to: Bridge|string|(Bridge|string)[]", "nil",
     "Records routes to other bridges in the lab graph (no packets are routed)."},
    {"routes", guarded<bridge_routes>, "", "string[]", "The bridges recorded by route()."},
};

}  // namespace
}  // namespace provium::lua::bridge_detail

namespace provium::lua {

const TypeDecl kBridgeFaultsApi = declare_type("Bridge", kBridgeMeta, bridge_detail::kFaultMethods);

}  // namespace provium::lua
