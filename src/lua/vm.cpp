// The Vm object (REFERENCE §5.2-5.4): lifecycle through the state table in lab/vm.cpp, guest
// operations forwarded to the VMM backend once one is attached.
#include "lab/vm.hpp"

#include <fmt/format.h>

#include <lua.hpp>

#include "fixture/service.hpp"
#include "lua/bindings.hpp"
#include "lua/context.hpp"
#include "lua/convert.hpp"
#include "lua/guest.hpp"
#include "lua/lab_vm.hpp"
#include "lua/net_objects.hpp"
#include "lua/support.hpp"
#include "util/duration.hpp"

namespace provium::lua {
namespace {

using VmPtr = std::shared_ptr<lab::Vm>;

const VmPtr& check_vm(lua_State* L, const char* what) {
  return check_shared<lab::Vm>(L, 1, kVmMeta, what);
}

int vm_name(lua_State* L) {
  lua_pushstring(L, check_vm(L, "vm:name")->name().c_str());
  return 1;
}
int vm_profile(lua_State* L) {
  lua_pushstring(L, check_vm(L, "vm:profile")->profile().c_str());
  return 1;
}
int vm_state(lua_State* L) {
  lua_pushstring(L, lab::to_string(check_vm(L, "vm:state")->state()));
  return 1;
}
int vm_cid(lua_State* L) {
  auto cid = check_vm(L, "vm:cid")->cid();
  if (cid)
    lua_pushinteger(L, *cid);
  else
    lua_pushnil(L);
  return 1;
}
int vm_tostring(lua_State* L) {
  auto& vm = check_vm(L, "tostring");
  auto cid = vm->cid();
  lua_pushstring(L, fmt::format("vm({} state={} cid={})", vm->name(), lab::to_string(vm->state()),
                                cid ? std::to_string(*cid) : "-")
                        .c_str());
  return 1;
}

int vm_boot(lua_State* L) {
  auto& vm = check_vm(L, "vm:boot");
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  boot_vm(L, vm, lua_isnoneornil(L, 2) ? 0 : 2);
  lua_settop(L, 1);
  return 1;
}

int vm_shutdown(lua_State* L) {
  shutdown_vm(L, check_vm(L, "vm:shutdown"));
  return 0;
}

// Operations no backend implements yet: they refuse by state first (the messages tests rely on),
// then say that this build cannot do them.
template <lab::VmOp Op, const char* What>
int vm_unsupported(lua_State* L) {
  auto& vm = check_vm(L, What);
  if (context(L).listing) return 0;  // inert listing mode: nothing touches a guest
  if (auto r = vm->refusal(Op)) raise(L, fmt::format("{}: {}", What, *r));
  raise(L, fmt::format("{}: not supported by this build of provium yet", What));
}
constexpr char kDisk[] = "vm:disk";
constexpr char kAttachDisk[] = "vm:attach_disk";

constexpr Method kVmMethods[] = {
    {"name", guarded<vm_name>, "", "string", "The VM's name in its lab."},
    {"profile", guarded<vm_profile>, "", "string", "The name of the VM's profile."},
    {"state", guarded<vm_state>, "", "\"created\"|\"booted\"|\"paused\"|\"shutdown\"|\"dead\"",
     "The VM's lifecycle state."},
    {"cid", guarded<vm_cid>, "", "integer|nil", "The VM's vsock CID while it runs."},
    {"boot", guarded<vm_boot>, "opts?: table", "Vm", "Boots the VM and waits for its agent."},
    {"shutdown", guarded<vm_shutdown>, "", "nil", "Stops the VM (idempotent)."},
    {"close", guarded<vm_shutdown>, "", "nil", "Same as shutdown() (scope teardown)."},
    {"disk", guarded<vm_unsupported<lab::VmOp::GuestOp, kDisk>>, "id: string", "Disk",
     "A disk of the VM (not supported by this build yet)."},
    {"attach_disk", guarded<vm_unsupported<lab::VmOp::GuestOp, kAttachDisk>>, "opts?: table",
     "Disk", "Hot-plugs a new disk (not supported by this build yet)."},
};

}  // namespace

const TypeDecl kVmApi = declare_type("Vm", kVmMeta, kVmMethods);

void push_vm(lua_State* L, const VmPtr& vm) { push_shared(L, vm, kVmMeta); }

VmSizing read_sizing(lua_State* L, int idx, const char* what, VmSizing s) {
  if (idx == 0 || lua_isnoneornil(L, idx)) return s;
  idx = lua_absindex(L, idx);
  lua_getfield(L, idx, "memory");
  if (!lua_isnil(L, -1)) {
    std::uint64_t bytes;
    if (lua_isinteger(L, -1)) {
      if (lua_tointeger(L, -1) < 0) raise(L, fmt::format("{}: memory must not be negative", what));
      bytes = static_cast<std::uint64_t>(lua_tointeger(L, -1));
    } else if (lua_type(L, -1) == LUA_TSTRING) {
      auto p = util::parse_size(lua_tostring(L, -1));
      if (!p) raise(L, fmt::format("{}: memory: {}", what, p.error));
      bytes = *p.value;
    } else {
      raise(L, fmt::format("{}: memory must be a size (bytes or a string like \"512M\"), got {}",
                           what, type_of(L, -1)));
    }
    s.memory = bytes;
  }
  lua_pop(L, 1);
  lua_getfield(L, idx, "cpus");
  if (!lua_isnil(L, -1)) {
    if (!lua_isinteger(L, -1))
      raise(L, fmt::format("{}: cpus must be an integer, got {}", what, type_of(L, -1)));
    lua_Integer c = lua_tointeger(L, -1);
    if (c < 0 || c > 1024)
      raise(L, fmt::format("{}: cpus must be between 0 and 1024, got {}", what, c));
    s.cpus = static_cast<std::uint32_t>(c);
  }
  lua_pop(L, 1);
  return s;
}

events::MetaMap read_options(lua_State* L, int idx) {
  if (idx == 0 || lua_isnoneornil(L, idx)) return {};
  auto m = to_meta_map(L, idx);
  m.erase("memory");
  m.erase("cpus");
  return m;
}

void register_resource(lua_State* L, int idx, const char* kind) {
  idx = lua_absindex(L, idx);
  if (lua_getglobal(L, "_provium_register_resource") != LUA_TFUNCTION) {
    lua_pop(L, 1);
    return;
  }
  lua_pushvalue(L, idx);
  lua_pushstring(L, kind);
  lua_call(L, 2, 0);
}

vmm::BootRequest make_boot_request(lua_State* L, const VmPtr& vm, int opts_idx, const char* what) {
  auto& ctx = context(L);
  VmSizing sizing = read_sizing(L, opts_idx, what, {vm->memory(), vm->cpus()});
  if (sizing.memory < (1ull << 20)) sizing.memory = 1ull << 20;
  if (sizing.cpus == 0) raise(L, fmt::format("{}: cpus must be at least 1", what));
  vmm::BootRequest req;
  req.file = ctx.file;
  req.lab = vm->lab();
  req.vm_name = vm->name();
  req.profile = &ctx.config->profiles.at(vm->profile());
  req.memory_bytes = sizing.memory & ~((1ull << 20) - 1);  // floored to MiB
  req.cpus = sizing.cpus;
  req.options = vm->create_opts();
  for (auto& [k, v] : read_options(L, opts_idx)) req.options[k] = v;
  if (auto it = req.options.find("agent_timeout"); it != req.options.end()) {
    double t = it->second.as_int() ? static_cast<double>(*it->second.as_int())
               : std::holds_alternative<double>(it->second.v) ? std::get<double>(it->second.v)
                                                              : -1;
    if (!(t > 0))
      raise(L, fmt::format("{}: agent_timeout must be a positive number of seconds", what));
    req.agent_timeout = t;
  } else if (req.profile->agent_boot_timeout) {
    req.agent_timeout = req.profile->agent_boot_timeout;
  }
  return req;
}

void record_profile(FileContext& ctx, const std::string& profile) {
  if (!ctx.recorded || !ctx.fixtures || !ctx.config) return;
  auto it = ctx.config->profiles.find(profile);
  if (it == ctx.config->profiles.end()) return;
  for (auto& r : *ctx.recorded)
    if (r.value("kind", "") == "profile" && r.value("name", "") == profile) return;
  ctx.recorded->push_back({{"kind", "profile"},
                           {"name", profile},
                           {"digest", ctx.fixtures->profile_digest(it->second)}});
}

void emit_vm_spawned(lua_State* L, const VmPtr& vm, std::uint64_t memory) {
  emit_vm_spawned(context(L), vm, memory);
}

void emit_vm_spawned(FileContext& ctx, const VmPtr& vm, std::uint64_t memory) {
  if (!ctx.bus) return;
  events::MetaMap p;
  p["file"] = events::str(ctx.file);
  p["vm_name"] = events::str(vm->name());
  p["profile"] = events::str(vm->profile());
  p["memory_bytes"] = events::num(static_cast<std::int64_t>(memory));
  p["cid"] = events::num(vm->cid().value_or(0));
  p["lab"] = events::str(vm->lab());
  ctx.bus->emit("vm_spawned", std::move(p));
}

void boot_vm(lua_State* L, const VmPtr& vm, int opts_idx) {
  auto& ctx = context(L);
  if (ctx.listing) return;  // listing never boots
  if (auto r = vm->refusal(lab::VmOp::Boot)) raise(L, fmt::format("vm:boot: {}", *r));
  vmm::BootRequest req = make_boot_request(L, vm, opts_idx, "vm:boot");
  std::string err;
  std::uint64_t memory = req.memory_bytes;
  try {
    charge_vm(ctx, vm, req, "booting");
    prepare_nics(ctx, vm, req);
    vm->boot(ctx.backend, std::move(req));
  } catch (const std::exception& e) {
    err = e.what();
  }
  if (err.empty()) {
    try {
      configure_guest_nics(L, vm);
    } catch (const std::exception& e) {
      err = e.what();
    }
    if (!err.empty()) {
      vm->shutdown();
      raise(L, fmt::format("vm:boot: {}", err));
    }
    record_profile(ctx, vm->profile());
    emit_vm_spawned(L, vm, memory);
    return;
  }
  raise(L, fmt::format("vm:boot: vm `{}`: {}", vm->name(), err));
}

void shutdown_vm(lua_State* L, const VmPtr& vm) { shutdown_and_report(context(L), *vm); }

void shutdown_and_report(FileContext& ctx, lab::Vm& vm) {
  auto uptime = vm.shutdown();
  if (uptime && ctx.bus) {
    events::MetaMap p;
    p["file"] = events::str(ctx.file);
    p["vm_name"] = events::str(vm.name());
    p["duration_ns"] = events::num(static_cast<std::int64_t>(uptime->count()));
    p["lab"] = events::str(vm.lab());
    ctx.bus->emit("vm_shutdown", std::move(p));
  }
}

void register_vm(lua_State* L) {
  luaL_newmetatable(L, kVmMeta);
  lua_newtable(L);
  register_methods(L, kVmApi, -1);
  register_guest_methods(L, -1);
  register_vm_object_methods(L, -1);
  register_file(L, -1);
  register_batch(L, -1);
  register_worker(L, -1);
  register_vm_lifecycle(L, -1);
  register_console(L, -1);
  register_guest_raw(L, -1);
  register_nic(L, -1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, guarded<vm_tostring>);
  lua_setfield(L, -2, "__tostring");
  lua_pushcfunction(L, gc_shared<lab::Vm>);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
}

}  // namespace provium::lua
