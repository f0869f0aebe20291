// The NIC object (REFERENCE §5.14): one VM's port on one bridge. Counters are the host port's
// statistics swapped to the guest's view; disconnect/reconnect take the port off the bridge
// and tell the guest its link went down (QEMU: QMP set_link; local: the veth carrier).
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "lua/context.hpp"
#include "lua/lab_vm.hpp"
#include "lua/net_objects.hpp"
#include "lua/support.hpp"

namespace provium::lua {
namespace {

NicUd& check_nic(lua_State* L, const char* what) {
  auto* u = static_cast<NicUd*>(luaL_testudata(L, 1, kNicMeta));
  if (!u) raise(L, fmt::format("{}: expected a Nic, got {}", what, type_of(L, 1)));
  return *u;
}

net::Bridge::Member& member_of(lua_State* L, NicUd& u, const char* what) {
  auto vm = u.vm.lock();
  auto* m = vm ? u.bridge->member(vm.get()) : nullptr;
  if (!m)
    raise(L, fmt::format("{}: vm `{}` is no longer attached to bridge `{}`", what, u.vm_name,
                         u.bridge->name()));
  return *m;
}

int nic_address(lua_State* L) {
  auto& m = member_of(L, check_nic(L, "nic:address"), "nic:address");
  if (m.address.empty())
    lua_pushnil(L);
  else
    lua_pushstring(L, m.address.c_str());
  return 1;
}

int nic_mac(lua_State* L) {
  lua_pushstring(L, member_of(L, check_nic(L, "nic:mac"), "nic:mac").mac.c_str());
  return 1;
}

int nic_vm_name(lua_State* L) {
  lua_pushstring(L, check_nic(L, "nic:vm_name").vm_name.c_str());
  return 1;
}

int nic_bridge(lua_State* L) {
  lua_pushstring(L, check_nic(L, "nic:bridge").bridge->name().c_str());
  return 1;
}

// {rx_bytes, tx_bytes, rx_packets, tx_packets, errors} as the guest sees them: what the host
// port sent is what the guest received.
int nic_counters(lua_State* L) {
  auto& u = check_nic(L, "nic:counters");
  auto& m = member_of(L, u, "nic:counters");
  std::int64_t rx_b = 0, tx_b = 0, rx_p = 0, tx_p = 0, errs = 0;
  auto& ctx = context(L);
  if (net::Bridge::has_port(m) && ctx.network.has_ns()) {
    auto out = ctx.network.ns().check({"ip", "-j", "-s", "link", "show", "dev", m.port}, "",
                                      "nic:counters");
    auto j = nlohmann::json::parse(out, nullptr, false);
    if (j.is_array() && !j.empty() && j[0].contains("stats64")) {
      auto& s = j[0]["stats64"];
      rx_b = s["tx"].value("bytes", 0LL);
      tx_b = s["rx"].value("bytes", 0LL);
      rx_p = s["tx"].value("packets", 0LL);
      tx_p = s["rx"].value("packets", 0LL);
      errs = s["rx"].value("errors", 0LL) + s["tx"].value("errors", 0LL);
    }
  }
  lua_newtable(L);
  for (auto [k, v] : {std::pair{"rx_bytes", rx_b},
                      {"tx_bytes", tx_b},
                      {"rx_packets", rx_p},
                      {"tx_packets", tx_p},
                      {"errors", errs}}) {
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
  }
  return 1;
}

int nic_link(lua_State* L, bool up, const char* what) {
  auto& u = check_nic(L, what);
  auto& m = member_of(L, u, what);
  auto& ctx = context(L);
  std::string err;
  try {
    if (ctx.network.has_ns())
      u.bridge->set_connected(ctx.network.ns(), m, up);
    else
      m.connected = up;
    auto vm = u.vm.lock();
    if (vm && vm->machine() && m.qemu_fd >= 0) {
      // The guest's NIC index is its bridge's position among the VM's bridges.
      auto bridges = ctx.network.bridges_of(vm.get());
      for (size_t i = 0; i < bridges.size(); ++i)
        if (bridges[i] == u.bridge) vm->machine()->set_nic_link(fmt::format("nic{}", i), up);
    }
  } catch (const std::exception& e) {
    err = e.what();
  }
  if (!err.empty()) raise(L, fmt::format("{}: {}", what, err));
  return 0;
}

int nic_disconnect(lua_State* L) { return nic_link(L, false, "nic:disconnect"); }
int nic_reconnect(lua_State* L) { return nic_link(L, true, "nic:reconnect"); }

int nic_capture(lua_State* L) {
  auto& u = check_nic(L, "nic:capture");
  auto& m = member_of(L, u, "nic:capture");
  if (!net::Bridge::has_port(m))
    raise(L, fmt::format("nic:capture: vm `{}` has no TAP on bridge `{}` (not booted?). Call "
                         "lab:boot() / vm:boot() first.",
                         u.vm_name, u.bridge->name()));
  push_capture(L, m.port,
               fmt::format("capture of vm `{}` on bridge `{}`", u.vm_name, u.bridge->name()));
  return 1;
}

int nic_tostring(lua_State* L) {
  auto& u = check_nic(L, "tostring");
  lua_pushstring(L, fmt::format("Nic({} on {})", u.vm_name, u.bridge->name()).c_str());
  return 1;
}

int nic_gc(lua_State* L) {
  static_cast<NicUd*>(lua_touserdata(L, 1))->~NicUd();
  return 0;
}

// vm:nic("<bridge>" | "ethN" | "ensN" | "enp0sN").
int vm_nic(lua_State* L) {
  auto& vm = check_shared<lab::Vm>(L, 1, kVmMeta, "vm:nic");
  std::string name = luaL_checkstring(L, 2);
  auto bridges = context(L).network.bridges_of(vm.get());
  for (auto& b : bridges)
    if (b->name() == name) {
      push_nic(L, b, vm);
      return 1;
    }
  for (const char* prefix : {"eth", "ens", "enp0s"}) {
    std::string p = prefix;
    if (name.rfind(p, 0) == 0 && name.size() > p.size() &&
        name.find_first_not_of("0123456789", p.size()) == std::string::npos) {
      size_t i = std::stoul(name.substr(p.size()));
      if (i < bridges.size()) {
        push_nic(L, bridges[i], vm);
        return 1;
      }
    }
  }
  std::string known;
  for (size_t i = 0; i < bridges.size(); ++i)
    known += fmt::format("{}{} (eth{})", known.empty() ? "" : ", ", bridges[i]->name(), i);
  raise(L, fmt::format("vm:nic: vm `{}` has no NIC `{}` (its NICs: {})", vm->name(), name,
                       known.empty() ? "none; attach it with bridge:attach(vm)" : known));
}

constexpr Method kNicMethods[] = {
    {"address", guarded<nic_address>, "", "string|nil",
     "The VM's IPv4 address on this bridge, nil when it has none."},
    {"mac", guarded<nic_mac>, "", "string", "The NIC's MAC address."},
    {"vm_name", guarded<nic_vm_name>, "", "string", "The name of the VM the NIC belongs to."},
    {"bridge", guarded<nic_bridge>, "", "string", "The name of the bridge the NIC is on."},
    {"counters", guarded<nic_counters>, "",
     "{rx_bytes: integer, tx_bytes: integer, rx_packets: integer, tx_packets: integer, errors: "
     "integer}",
     "Traffic counters as the guest sees them."},
    {"disconnect", guarded<nic_disconnect>, "", "nil", "Unplugs the cable (link down)."},
    {"reconnect", guarded<nic_reconnect>, "", "nil", "Plugs the cable back in (link up)."},
    {"capture", guarded<nic_capture>, "", "Capture", "Starts a packet capture on this NIC."},
};

constexpr Method kVmNicMethods[] = {
    {"nic", guarded<vm_nic>, "name: string", "Nic",
     "The VM's NIC on bridge `name`, or by interface name (\"eth0\", \"ens1\", \"enp0s2\")."},
};

}  // namespace

const TypeDecl kNicApi = declare_type("Nic", kNicMeta, kNicMethods);
const TypeDecl kVmNicApi = declare_type("Vm", kVmMeta, kVmNicMethods);

void push_nic(lua_State* L, std::shared_ptr<net::Bridge> b, const std::shared_ptr<lab::Vm>& vm) {
  auto* u = static_cast<NicUd*>(lua_newuserdatauv(L, sizeof(NicUd), 0));
  new (u) NicUd{std::move(b), vm, vm->name()};
  luaL_setmetatable(L, kNicMeta);
}

void register_nic(lua_State* L, int vm_methods) {
  vm_methods = lua_absindex(L, vm_methods);
  new_meta(L, kNicApi, nic_gc, guarded<nic_tostring>);
  register_methods(L, kVmNicApi, vm_methods);
}

}  // namespace provium::lua
