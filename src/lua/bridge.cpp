// lab:bridge() and the Bridge object (REFERENCE §5.13, §9): graph changes are checked first,
// applied to the graph, then realised (one nft transaction, one tc batch); if realising fails,
// the graph goes back to what it was and the rules are re-applied, so a failed call leaves the
// lab as it found it.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "lua/bridge_support.hpp"
#include "lua/context.hpp"
#include "lua/convert.hpp"
#include "lua/lab_vm.hpp"
#include "lua/net_objects.hpp"
#include "lua/support.hpp"

namespace provium::lua {

namespace bridge_detail {

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

}  // namespace bridge_detail

namespace {

using namespace bridge_detail;

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

constexpr Method kBridgeMethods[] = {
    {"name", guarded<bridge_name>, "", "string", "The bridge's name in the lab."},
    {"subnet", guarded<bridge_subnet>, "", "string", "The bridge's IPv4 subnet (\"10.0.0.0/24\")."},
    {"members", guarded<bridge_members>, "", "string[]", "The names of the attached VMs."},
    {"attach", guarded<bridge_attach>,
     "vms: Vm|string|(Vm|string)[], opts?: {address?: string|false}", "Bridge",
     "Attaches VMs (before they boot); `address` picks one VM's IPv4 address, false none."},
    {"detach", guarded<bridge_detach>, "vm: Vm|string", "nil", "Detaches an attached VM."},
    {"nic", guarded<bridge_nic>, "vm: Vm|string", "Nic", "An attached VM's NIC on this bridge."},
    {"capture", guarded<bridge_capture>, "", "Capture",
     "Starts a packet capture of the whole bridge (once it exists)."},
    {"enable_uplink", guarded<bridge_enable_uplink>, "", "nil",
     "Lets guests reach the host's loopback services via TCP to the gateway address."},
    {"disable_uplink", guarded<bridge_disable_uplink>, "", "nil", "Removes the uplink again."},
    {"gateway", guarded<bridge_gateway>, "", "string",
     "The bridge's gateway address (x.y.z.1), the uplink's end."},
    {"close", guarded<bridge_close>, "", "nil", "Deletes the bridge and removes it from its lab."},
};

constexpr Method kLabBridgeMethods[] = {
    {"bridge", guarded<lab_bridge>, "name: string, opts?: {subnet?: string}", "Bridge",
     "The bridge `name`, created (with `opts`) when the lab has none of that name."},
    {"bridge_names", guarded<lab_bridge_names>, "", "string[]", "The names of the lab's bridges."},
};

}  // namespace

const TypeDecl kBridgeApi = declare_type("Bridge", kBridgeMeta, kBridgeMethods);
const TypeDecl kLabBridgeApi = declare_type("Lab", kLabMeta, kLabBridgeMethods);

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
  new_meta(L, kBridgeApi, bridge_gc, guarded<bridge_tostring>);
  luaL_getmetatable(L, kBridgeMeta);
  lua_getfield(L, -1, "__index");
  register_methods(L, kBridgeFaultsApi, -1);  // bridge_faults.cpp
  lua_pop(L, 2);
}

void register_lab_bridges(lua_State* L, int lab_methods) {
  register_methods(L, kLabBridgeApi, lab_methods);
}

}  // namespace provium::lua
