// lab:snapshot(dir?), lab:restore(dir | LabSnapshot) and the LabSnapshot object (REFERENCE
// §5.12): bindings over lab::save_lab / lab::restore_lab (src/lab/lab_snapshot.cpp).
#include "lab/lab_snapshot.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <lua.hpp>

#include "lab/lab.hpp"
#include "lua/context.hpp"
#include "lua/lab_vm.hpp"
#include "lua/support.hpp"
#include "vmm/spawner.hpp"

namespace provium::lua {
namespace {

namespace fs = std::filesystem;
using LabPtr = std::shared_ptr<lab::Lab>;
using VmPtr = std::shared_ptr<lab::Vm>;
constexpr const char* kLabSnapshotMeta = "provium.LabSnapshot";

struct LabSnapshotUd {
  std::string dir;
  bool transient = false;  // made without a directory: deleted with the object (snapshot.cpp)
};

int lab_snapshot(lua_State* L) {
  auto& lab = check_shared<lab::Lab>(L, 1, kLabMeta, "lab:snapshot");
  auto& ctx = context(L);
  bool explicit_dir = !lua_isnoneornil(L, 2);
  // A fixture build stages its snapshots inside the cache, so installing is a rename.
  std::string dir = explicit_dir
                        ? std::string(luaL_checkstring(L, 2))
                        : fmt::format("{}/provium-labsnap-{}-{}", ctx.scratch_base(), ::getpid(),
                                      std::chrono::steady_clock::now().time_since_epoch().count());
  for (auto& m : lab::running_members(*lab)) refuse_live_streams(L, *m.vm, m.path, "lab:snapshot");
  bool transient = !explicit_dir && ctx.snapshot_dir.empty();
  if (transient) vmm::janitor_watch(dir);
  call_domain(L, "lab:snapshot", [&] {
    try {
      lab::save_lab(*lab, dir);
    } catch (...) {
      if (transient) drop_transient(dir);
      throw;
    }
  });
  if (explicit_dir) {
    lua_pushstring(L, dir.c_str());
    return 1;
  }
  auto* ud = static_cast<LabSnapshotUd*>(lua_newuserdatauv(L, sizeof(LabSnapshotUd), 0));
  new (ud) LabSnapshotUd{fs::absolute(dir).string(), transient};
  luaL_setmetatable(L, kLabSnapshotMeta);
  return 1;
}

int lab_restore(lua_State* L) {
  auto& lab = check_shared<lab::Lab>(L, 1, kLabMeta, "lab:restore");
  std::string dir;
  if (auto* s = static_cast<LabSnapshotUd*>(luaL_testudata(L, 2, kLabSnapshotMeta)))
    dir = s->dir;
  else if (lua_type(L, 2) == LUA_TSTRING)
    dir = lua_tostring(L, 2);
  else
    raise(L, fmt::format("lab:restore: expected a LabSnapshot or a directory, got {}",
                         luaL_typename(L, 2)));
  if (auto err = restore_lab_dir(L, lab, dir); !err.empty()) raise(L, "lab:restore: " + err);
  return 0;
}

}  // namespace

std::string restore_lab_dir(lua_State* L, const LabPtr& lab, const std::string& dir) {
  try {
    lab::restore_lab(context(L), lab, dir, [L](const VmPtr& vm) {
      push_vm(L, vm);
      register_resource(L, lua_gettop(L), "vm");
      lua_pop(L, 1);
    });
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
}

namespace {

LabSnapshotUd& check_labsnap(lua_State* L) {
  return *static_cast<LabSnapshotUd*>(luaL_checkudata(L, 1, kLabSnapshotMeta));
}
int ls_path(lua_State* L) {
  lua_pushstring(L, check_labsnap(L).dir.c_str());
  return 1;
}
int ls_size(lua_State* L) {
  std::error_code ec;
  std::uint64_t total = 0;
  for (auto& e : fs::directory_iterator(check_labsnap(L).dir, ec))
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  lua_pushinteger(L, static_cast<lua_Integer>(total));
  return 1;
}
int ls_delete(lua_State* L) {
  auto& s = check_labsnap(L);
  std::error_code ec;
  fs::remove_all(s.dir, ec);
  if (s.transient) vmm::janitor_forget(s.dir);
  s.transient = false;
  return 0;
}
int ls_tostring(lua_State* L) {
  lua_pushstring(L, fmt::format("lab snapshot({})", check_labsnap(L).dir).c_str());
  return 1;
}
int ls_gc(lua_State* L) {
  auto& s = check_labsnap(L);
  if (s.transient) drop_transient(s.dir);
  s.~LabSnapshotUd();
  return 0;
}

constexpr Method kLabSnapshotRestoreMethods[] = {
    {"snapshot", guarded<lab_snapshot>, "dir?: string", "LabSnapshot|string",
     "Saves every VM (paused together) and the bridges to `dir` (returned) or a LabSnapshot."},
    {"restore", guarded<lab_restore>, "dir: string|LabSnapshot", "nil",
     "Starts the lab's VMs and bridges from a lab snapshot."},
};

constexpr Method kLabSnapshotMethods[] = {
    {"path", guarded<ls_path>, "", "string", "The absolute path of the snapshot directory."},
    {"size", guarded<ls_size>, "", "integer", "The size of the snapshot's files in bytes."},
    {"delete", guarded<ls_delete>, "", "nil", "Removes the snapshot directory."},
};

}  // namespace

const TypeDecl kLabSnapshotRestoreApi = declare_type("Lab", kLabMeta, kLabSnapshotRestoreMethods);
const TypeDecl kLabSnapshotApi = declare_type("LabSnapshot", kLabSnapshotMeta, kLabSnapshotMethods);

std::optional<std::string> lab_snapshot_at(lua_State* L, int idx) {
  auto* s = static_cast<LabSnapshotUd*>(luaL_testudata(L, idx, kLabSnapshotMeta));
  if (!s) return std::nullopt;
  return s->dir;
}

void register_lab_snapshot(lua_State* L, int methods_idx) {
  register_methods(L, kLabSnapshotRestoreApi, methods_idx);
  new_meta(L, kLabSnapshotApi, ls_gc, guarded<ls_tostring>);
}

}  // namespace provium::lua
