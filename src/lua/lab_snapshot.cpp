// lab:snapshot(dir?) and lab:restore(dir | LabSnapshot) for labs of VMs (REFERENCE §5.12,
// §9.9): a directory with `lab.json` (format_version 1, paths relative to the directory, so it
// can be moved) and one snapshot file per VM; sub-lab members are named "sub/leaf". Every VM
// is paused before any is saved, so the set is consistent; restores are additive and roll
// back every VM they started when one fails. Bridges, their members' addresses, partitions and
// impairments are saved and re-created too (lab_snapshot_net.cpp).
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <lua.hpp>
#include <nlohmann/json.hpp>

#include "lab/lab.hpp"
#include "lua/context.hpp"
#include "lua/lab_snapshot_net.hpp"
#include "lua/lab_vm.hpp"
#include "lua/net_objects.hpp"
#include "lua/support.hpp"

namespace provium::lua {
namespace {

namespace fs = std::filesystem;
using LabPtr = std::shared_ptr<lab::Lab>;
using VmPtr = std::shared_ptr<lab::Vm>;
constexpr const char* kLabSnapshotMeta = "provium.LabSnapshot";

struct LabSnapshotUd {
  std::string dir;
};

struct Member {
  std::string path;  // "vm" or "sub/leaf"
  VmPtr vm;
};

void collect(const lab::Lab& l, const std::string& prefix, std::vector<Member>& out) {
  for (auto& vm : l.vms()) out.push_back({prefix + vm->name(), vm});
  for (auto& sub : l.sub_labs()) collect(*sub, prefix + sub->name() + "/", out);
}

std::string file_name_for(const std::string& member) {
  std::string f = member;
  for (char& c : f)
    if (c == '/') c = '~';
  return f + ".snap";
}

int lab_snapshot(lua_State* L) {
  auto& lab = check_shared<lab::Lab>(L, 1, kLabMeta, "lab:snapshot");
  if (context(L).listing) return 0;
  bool explicit_dir = !lua_isnoneornil(L, 2);
  std::string dir;
  if (explicit_dir) {
    dir = luaL_checkstring(L, 2);
  } else {
    const char* t = std::getenv("TMPDIR");
    auto& ctx = context(L);
    // A fixture build stages its snapshots inside the cache, so installing is a rename.
    std::string base = !ctx.snapshot_dir.empty() ? ctx.snapshot_dir : (t && *t) ? t : "/tmp";
    dir = fmt::format("{}/provium-labsnap-{}-{}", base, ::getpid(),
                      std::chrono::steady_clock::now().time_since_epoch().count());
  }
  std::vector<Member> members;
  collect(*lab, "", members);
  std::vector<Member> running;
  for (auto& m : members) {
    auto st = m.vm->state();
    if (st != lab::VmState::Booted && st != lab::VmState::Paused) continue;
    refuse_live_streams(L, *m.vm, m.path, "lab:snapshot");
    running.push_back(m);
  }
  if (running.empty())
    raise(L, fmt::format("lab:snapshot: lab `{}` has no booted VM to save", lab->name()));
  refuse_live_captures(L, *lab);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) raise(L, fmt::format("lab:snapshot: cannot create `{}`: {}", dir, ec.message()));

  // Pause everything first (a consistent set), then save in parallel, then resume.
  std::vector<bool> was_running;
  std::string err;
  for (auto& m : running) {
    bool r = m.vm->state() == lab::VmState::Booted;
    was_running.push_back(r);
    if (r) m.vm->pause();
  }
  std::vector<std::future<std::string>> saves;
  for (auto& m : running)
    saves.push_back(std::async(std::launch::async, [&m, &dir]() -> std::string {
      try {
        m.vm->snapshot((fs::path(dir) / file_name_for(m.path)).string());
        return {};
      } catch (const std::exception& e) {
        return fmt::format("vm `{}`: {}", m.path, e.what());
      }
    }));
  for (auto& f : saves)
    if (auto e = f.get(); !e.empty() && err.empty()) err = e;
  for (std::size_t i = 0; i < running.size(); ++i)
    if (was_running[i]) running[i].vm->resume();
  if (!err.empty()) raise(L, "lab:snapshot: " + err);

  nlohmann::json vms = nlohmann::json::array();
  for (auto& m : running)
    vms.push_back({{"vm_name", m.path},
                   {"profile", m.vm->profile()},
                   {"snapshot_path", file_name_for(m.path)},
                   {"memory_bytes", m.vm->memory()},
                   {"cpus", m.vm->cpus()}});
  std::map<const void*, std::string> vm_paths;
  for (auto& m : running) vm_paths[m.vm.get()] = m.path;
  nlohmann::json doc = {
      {"format_version", 1}, {"vms", vms}, {"bridges", bridges_json(*lab, vm_paths)}};
  std::ofstream(fs::path(dir) / "lab.json") << doc.dump(2) << "\n";
  if (explicit_dir) {
    lua_pushstring(L, dir.c_str());
    return 1;
  }
  auto* ud = static_cast<LabSnapshotUd*>(lua_newuserdatauv(L, sizeof(LabSnapshotUd), 0));
  new (ud) LabSnapshotUd{fs::absolute(dir).string()};
  luaL_setmetatable(L, kLabSnapshotMeta);
  return 1;
}

int lab_restore(lua_State* L) {
  auto& lab = check_shared<lab::Lab>(L, 1, kLabMeta, "lab:restore");
  if (context(L).listing) return 0;
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
  auto& ctx = context(L);
  std::ifstream in(fs::path(dir) / "lab.json");
  if (!in) return (fmt::format("`{}/lab.json`: {}", dir, std::strerror(errno)));
  auto doc = nlohmann::json::parse(in, nullptr, false);
  if (!doc.is_object() || doc.value("format_version", 0) != 1 || !doc.contains("vms"))
    return (fmt::format("`{}/lab.json` is not a provium lab snapshot (format_version 1)", dir));
  struct Entry {
    std::string name, profile, file;
    std::uint64_t memory;
    std::uint32_t cpus;
    std::string path;  // "sub/leaf" as saved
    LabPtr owner;
  };
  std::vector<Entry> entries;
  for (auto& v : doc["vms"]) {
    Entry e{v.value("vm_name", ""),
            v.value("profile", ""),
            v.value("snapshot_path", ""),
            v.value("memory_bytes", std::uint64_t{512} << 20),
            v.value("cpus", 1u),
            v.value("vm_name", ""),
            lab};
    if (e.name.empty() || e.file.empty())
      return (fmt::format("`{}/lab.json`: a VM entry lacks its name or file", dir));
    if (!ctx.config->profiles.count(e.profile))
      return (fmt::format("vm `{}` needs profile `{}`, which provium.toml does not define", e.name,
                          e.profile));
    // "sub/leaf": the leaf goes into (a lookup-or-create of) the sub-lab chain.
    std::string leaf = e.name;
    for (auto slash = leaf.find('/'); slash != std::string::npos; slash = leaf.find('/')) {
      std::string sub = leaf.substr(0, slash);
      auto next = e.owner->find_sub_lab(sub);
      e.owner = next ? next : e.owner->add_sub_lab(sub);
      leaf = leaf.substr(slash + 1);
    }
    if (e.owner->find_vm(leaf))
      return (fmt::format("a VM named `{}` already exists in lab `{}`", e.name, e.owner->name()));
    e.name = leaf;
    entries.push_back(std::move(e));
  }
  std::vector<VmPtr> vms;
  for (auto& e : entries) {
    auto vm = std::make_shared<lab::Vm>(e.name, e.profile, e.owner->name(), e.memory, e.cpus,
                                        events::MetaMap{});
    e.owner->add_vm(vm);
    push_vm(L, vm);
    register_resource(L, lua_gettop(L), "vm");
    lua_pop(L, 1);
    vms.push_back(vm);
  }
  std::map<std::string, VmPtr> by_path;
  for (std::size_t i = 0; i < vms.size(); ++i) by_path[entries[i].path] = vms[i];
  MadeBridges bridges;
  std::vector<vmm::BootRequest> reqs;
  for (auto& vm : vms) reqs.push_back(make_boot_request(L, vm, 0, "lab:restore"));
  try {
    bridges = restore_bridges(ctx, lab, doc, by_path);
    charge_vms(ctx, vms, reqs, "restoring");
    for (std::size_t i = 0; i < vms.size(); ++i) prepare_nics(ctx, vms[i], reqs[i]);
  } catch (const std::exception& e) {
    for (auto& vm : vms) vm->shutdown();
    for (auto& [owner, b] : bridges) owner->remove_bridge(b->name());
    for (auto& en : entries) en.owner->remove(en.name);
    return e.what();
  }
  std::vector<std::future<std::string>> runs;
  for (std::size_t i = 0; i < vms.size(); ++i)
    runs.push_back(std::async(std::launch::async, [&, i]() -> std::string {
      try {
        vms[i]->restore(ctx.backend, reqs[i], (fs::path(dir) / entries[i].file).string());
        return {};
      } catch (const std::exception& e) {
        return fmt::format("vm `{}`: {}", entries[i].name, e.what());
      }
    }));
  std::string err;
  for (auto& f : runs)
    if (auto e = f.get(); !e.empty() && err.empty()) err = e;
  if (!err.empty()) {
    for (std::size_t i = 0; i < vms.size(); ++i) {
      vms[i]->shutdown();
      entries[i].owner->remove(entries[i].name);
    }
    for (auto& [owner, b] : bridges) owner->remove_bridge(b->name());
    return err + " (every VM and bridge of this restore was removed again)";
  }
  for (auto& vm : vms) emit_vm_spawned(L, vm, vm->memory());
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
  std::error_code ec;
  fs::remove_all(check_labsnap(L).dir, ec);
  return 0;
}
int ls_tostring(lua_State* L) {
  lua_pushstring(L, fmt::format("lab snapshot({})", check_labsnap(L).dir).c_str());
  return 1;
}
int ls_gc(lua_State* L) {
  check_labsnap(L).~LabSnapshotUd();
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

void shutdown_lab_tree(FileContext& ctx, lab::Lab& l) {
  for (auto& sub : l.sub_labs()) shutdown_lab_tree(ctx, *sub);
  for (auto& vm : l.vms()) shutdown_and_report(ctx, *vm);
}

void register_lab_snapshot(lua_State* L, int methods_idx) {
  register_methods(L, kLabSnapshotRestoreApi, methods_idx);
  new_meta(L, kLabSnapshotApi, ls_gc, guarded<ls_tostring>);
}

}  // namespace provium::lua
