// The Vm object (REFERENCE §5.2-5.4): lifecycle through the state table in lab/vm.cpp, guest
// operations forwarded to the VMM backend once one is attached.
#include "lab/vm.hpp"

#include <fmt/format.h>

#include <lua.hpp>

#include "fixture/service.hpp"
#include "lab/boot.hpp"
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
  VmSizing sizing = read_sizing(L, opts_idx, what, {vm->memory(), vm->cpus()});
  auto opts = read_options(L, opts_idx);
  vmm::BootRequest req;
  call_domain(L, what,
              [&] { req = lab::boot_request(context(L), *vm, sizing.memory, sizing.cpus, opts); });
  return req;
}

void boot_vm(lua_State* L, const VmPtr& vm, int opts_idx) {
  auto& ctx = context(L);
  if (ctx.listing) return;  // listing never boots
  if (auto r = vm->refusal(lab::VmOp::Boot)) raise(L, fmt::format("vm:boot: {}", *r));
  vmm::BootRequest req = make_boot_request(L, vm, opts_idx, "vm:boot");
  call_domain(L, "vm:boot", [&] { lab::boot_vms(ctx, {vm}, {std::move(req)}); });
}

void shutdown_vm(lua_State* L, const VmPtr& vm) { lab::shutdown_and_report(context(L), *vm); }

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
