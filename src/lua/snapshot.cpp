// Whole-machine lifecycle beyond boot/shutdown (REFERENCE §5.3, §5.12): vm:snapshot and the
// Snapshot object, vm:restore, vm:reset, vm:power_button, vm:wakeup.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <lua.hpp>

#include "lab/boot.hpp"
#include "lab/vm.hpp"
#include "lua/context.hpp"
#include "lua/lab_vm.hpp"
#include "lua/net_objects.hpp"
#include "lua/support.hpp"
#include "util/host.hpp"
#include "vmm/spawner.hpp"

namespace provium::lua {
namespace {

namespace fs = std::filesystem;
using VmPtr = std::shared_ptr<lab::Vm>;
constexpr const char* kSnapshotMeta = "provium.Snapshot";

struct SnapshotUd {
  std::string path;
  std::string profile;
  std::uint64_t memory = 0;
  std::uint32_t cpus = 1;
  // Made without a path (and not staged by a fixture build): provium's, deleted when the
  // object is collected (at the latest when the file's run ends) or by the janitor.
  bool transient = false;
};

const VmPtr& vm_arg(lua_State* L, const char* what) {
  return check_shared<lab::Vm>(L, 1, kVmMeta, what);
}

SnapshotUd* to_snapshot(lua_State* L, int idx) {
  return static_cast<SnapshotUd*>(luaL_testudata(L, idx, kSnapshotMeta));
}

std::string default_snapshot_path(const FileContext& ctx) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  // A fixture build stages its snapshots inside the cache, so installing is a rename.
  if (!ctx.snapshot_dir.empty()) return fmt::format("{}/vm-{}.snap", ctx.snapshot_dir, ns);
  return fmt::format("{}/provium-snap-{}-{}.bin", util::temp_dir(), ::getpid(), ns);
}

int vm_snapshot(lua_State* L) {
  auto& vm = vm_arg(L, "vm:snapshot");
  if (auto r = vm->refusal(lab::VmOp::Snapshot)) raise(L, fmt::format("vm:snapshot: {}", *r));
  bool transient = lua_isnoneornil(L, 2) && context(L).snapshot_dir.empty();
  std::string path =
      lua_isnoneornil(L, 2) ? default_snapshot_path(context(L)) : luaL_checkstring(L, 2);
  if (transient) vmm::janitor_watch(path);
  refuse_live_streams(L, *vm, vm->name(), "vm:snapshot");
  call_domain(L, fmt::format("vm:snapshot: vm `{}`", vm->name()), [&] {
    try {
      vm->snapshot(path);
    } catch (...) {
      if (transient) drop_transient(path);
      throw;
    }
  });
  auto* ud = static_cast<SnapshotUd*>(lua_newuserdatauv(L, sizeof(SnapshotUd), 0));
  new (ud) SnapshotUd{path, vm->profile(), vm->memory(), vm->cpus(), transient};
  if (!transient) ud->path = fs::absolute(path).string();
  luaL_setmetatable(L, kSnapshotMeta);
  return 1;
}

int vm_restore(lua_State* L) {
  auto& vm = vm_arg(L, "vm:restore");
  auto& ctx = context(L);
  std::string path;
  if (auto* s = to_snapshot(L, 2))
    path = s->path;
  else if (lua_type(L, 2) == LUA_TSTRING)
    path = lua_tostring(L, 2);
  else
    raise(L, fmt::format("vm:restore: expected a Snapshot or a path, got {}", luaL_typename(L, 2)));
  if (::access(path.c_str(), R_OK) != 0)
    raise(L, fmt::format("vm:restore: snapshot `{}`: {}", path, std::strerror(errno)));
  vmm::BootRequest req = make_boot_request(L, vm, lua_istable(L, 3) ? 3 : 0, "vm:restore");
  call_domain(L, fmt::format("vm:restore: vm `{}`", vm->name()),
              [&] { lab::restore_vm(ctx, vm, std::move(req), path); });
  lua_settop(L, 1);
  return 1;
}

template <void (lab::Vm::*Op)(), const char* Name>
int vm_simple(lua_State* L) {
  auto& vm = vm_arg(L, Name);
  try {
    ((*vm).*Op)();
  } catch (const std::exception& e) {
    raise(L, fmt::format("{}: {}", Name, e.what()));
  }
  return 0;
}
int vm_reset(lua_State* L) {
  auto& vm = vm_arg(L, "vm:reset");
  call_domain(L, "vm:reset", [&] { lab::reset_vm(context(L), vm); });
  return 0;
}

constexpr char kWakeup[] = "vm:wakeup";

int vm_power_button(lua_State* L) {
  auto& vm = vm_arg(L, "vm:power_button");
  call_domain(L, "vm:power_button", [&] { lab::power_off(context(L), *vm); });
  return 0;
}

int vm_console_socket_path(lua_State* L) {
  auto& vm = vm_arg(L, "vm:console_socket_path");
  std::string p = vm->machine() ? vm->machine()->console_socket_path() : "";
  if (p.empty())
    lua_pushnil(L);
  else
    lua_pushstring(L, p.c_str());
  return 1;
}

SnapshotUd& check_snapshot(lua_State* L) {
  return *static_cast<SnapshotUd*>(luaL_checkudata(L, 1, kSnapshotMeta));
}

int snap_path(lua_State* L) {
  lua_pushstring(L, check_snapshot(L).path.c_str());
  return 1;
}
int snap_size(lua_State* L) {
  std::error_code ec;
  auto n = fs::file_size(check_snapshot(L).path, ec);
  lua_pushinteger(L, ec ? 0 : static_cast<lua_Integer>(n));
  return 1;
}
int snap_delete(lua_State* L) {
  auto& s = check_snapshot(L);
  std::error_code ec;
  fs::remove(s.path, ec);
  if (s.transient) vmm::janitor_forget(s.path);
  s.transient = false;
  return 0;
}
int snap_tostring(lua_State* L) {
  lua_pushstring(L, fmt::format("snapshot({})", check_snapshot(L).path).c_str());
  return 1;
}
int snap_gc(lua_State* L) {
  auto& s = check_snapshot(L);
  if (s.transient) drop_transient(s.path);
  s.~SnapshotUd();
  return 0;
}

constexpr Method kVmLifecycleMethods[] = {
    {"snapshot", guarded<vm_snapshot>, "path?: string", "Snapshot",
     "Saves the whole machine (memory and devices) to `path` or a temporary file."},
    {"restore", guarded<vm_restore>, "snap: Snapshot|string, opts?: table", "Vm",
     "Replaces whatever runs with the guest saved in `snap`; the VM ends booted."},
    {"reset", guarded<vm_reset>, "", "nil", "Hard-resets the machine (like the reset button)."},
    {"wakeup", guarded<vm_simple<&lab::Vm::wakeup, kWakeup>>, "", "nil",
     "Wakes a suspended guest (ACPI wakeup)."},
    {"power_button", guarded<vm_power_button>, "", "nil",
     "Presses the ACPI power button and waits for the guest to power off."},
    {"console_socket_path", guarded<vm_console_socket_path>, "", "string|nil",
     "The host path of the console socket, nil when the VMM has none."},
};

constexpr Method kSnapshotMethods[] = {
    {"path", guarded<snap_path>, "", "string", "The absolute path of the snapshot file."},
    {"size", guarded<snap_size>, "", "integer", "The snapshot file's size in bytes."},
    {"delete", guarded<snap_delete>, "", "nil", "Removes the snapshot file."},
};

}  // namespace

void drop_transient(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  vmm::janitor_forget(path);
}

const TypeDecl kVmLifecycleApi = declare_type("Vm", kVmMeta, kVmLifecycleMethods);
const TypeDecl kSnapshotApi = declare_type("Snapshot", kSnapshotMeta, kSnapshotMethods);

std::optional<SnapshotInfo> snapshot_at(lua_State* L, int idx) {
  auto* s = to_snapshot(L, idx);
  if (!s) return std::nullopt;
  return SnapshotInfo{s->path, s->profile, s->memory, s->cpus};
}

void refuse_live_streams(lua_State* L, lab::Vm& vm, const std::string& shown_name,
                         const char* what) {
  auto agent = vm.machine() ? vm.machine()->agent() : nullptr;
  if (!agent) return;
  auto labels = agent->live_stream_labels();
  if (labels.empty()) return;
  std::string msg =
      fmt::format("{}: vm `{}` in {} has live streams:", what, shown_name, context(L).file);
  for (auto& l : labels) msg += "\n  " + l;
  msg += "\nclose them (stream:close()) before taking a snapshot";
  raise(L, msg);
}

void register_vm_lifecycle(lua_State* L, int idx) {
  register_methods(L, kVmLifecycleApi, idx);
  new_meta(L, kSnapshotApi, snap_gc, guarded<snap_tostring>);
}

}  // namespace provium::lua
