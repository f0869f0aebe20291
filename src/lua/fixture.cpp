// vm_fixture / lab_fixture (REFERENCE §8.1) and the fixture build itself: the fixture's chunk
// runs in a fresh Lua state with a transient lab whose VMs emit no vm_* events; what it
// returns (vm:snapshot() or provium:snapshot()) is staged inside the cache, then installed by
// the fixture service. The requesting file gets a VM (or a sub-lab) restored from the entry.
#include "lua/fixture.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <lua.hpp>
#include <nlohmann/json.hpp>

#include "fixture/service.hpp"
#include "lab/boot.hpp"
#include "lab/lab.hpp"
#include "lua/context.hpp"
#include "lua/lab_vm.hpp"
#include "lua/state.hpp"
#include "lua/support.hpp"

namespace provium::lua {
namespace {

namespace fs = std::filesystem;
using LabPtr = std::shared_ptr<lab::Lab>;
using VmPtr = std::shared_ptr<lab::Vm>;

// Moves `from` under `staging` unless it is there already (a snapshot written to an explicit
// path elsewhere); copies when it lives on another filesystem.
fs::path into_staging(const fs::path& from, const fs::path& staging, const std::string& leaf) {
  std::error_code ec;
  auto rel = fs::relative(fs::weakly_canonical(from, ec), fs::weakly_canonical(staging, ec), ec);
  if (!ec && !rel.empty() && *rel.begin() != "..") return from;
  fs::path to = staging / leaf;
  fs::rename(from, to, ec);
  if (ec) {
    fs::copy(from, to, fs::copy_options::recursive, ec);
    if (ec)
      throw std::runtime_error(
          fmt::format("cannot stage `{}` in the fixture cache: {}", from.string(), ec.message()));
  }
  return to;
}

// Closes the build's file scope and shuts its whole lab down, however the build ends.
struct BuildTeardown {
  FileState& st;
  FileContext& ctx;
  ~BuildTeardown() {
    lua_State* L = st.L();
    auto hook = lua_gethook(L);
    int mask = lua_gethookmask(L), count = lua_gethookcount(L);
    lua_sethook(L, nullptr, 0, 0);
    lua_settop(L, 0);
    lua_getglobal(L, "_provium_close_file_scope");
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) lua_pop(L, 1);
    lab::shutdown_tree(ctx, *ctx.root_lab);
    lua_sethook(L, hook, mask, count);
  }
};

// The fixture's path as messages and tracebacks show it: relative to the working directory
// when it lies below it (like test files), else absolute.
std::string display_of(const fixture::FixtureKey& k) {
  std::error_code ec;
  auto rel = fs::relative(k.source, fs::current_path(ec), ec);
  if (ec || rel.empty() || *rel.begin() == "..") return k.source.string();
  return rel.string();
}

fixture::BuildOutput build_fixture(FileContext& parent, const fixture::FixtureKey& k,
                                   const fs::path& staging) {
  nlohmann::json recorded = nlohmann::json::array();
  FileContext ctx;
  ctx.config = parent.config;
  ctx.interrupt = parent.interrupt;
  ctx.backend = parent.backend;
  ctx.bus = nullptr;  // build VMs are transient: no vm_* events
  ctx.file = display_of(k);
  ctx.abs_path = k.source.string();
  ctx.root_lab = std::make_shared<lab::Lab>("provium");
  ctx.roots = parent.roots;
  ctx.fixtures = parent.fixtures;
  ctx.fixture_stack = parent.fixture_stack;
  ctx.fixture_stack.push_back(k.name);
  ctx.snapshot_dir = staging.string();
  ctx.recorded = &recorded;
  // Build VMs draw from the pool under the requesting file, never from its claim (§10.2).
  if (parent.account) ctx.account = parent.account->for_fixture_build();

  FileState st(&ctx, ctx.roots);
  BuildTeardown teardown{st, ctx};
  lua_State* L = st.L();
  if (auto err = st.load_file(k.source.string(), display_of(k)))
    throw fixture::BuildFailure(*err, "");
  if (auto err = st.pcall(0, 1))
    throw fixture::BuildFailure(
        err->skip ? "t:skip called in a fixture: " + err->skip_reason : err->message,
        err->traceback);
  fixture::BuildOutput out;
  if (auto snap = snapshot_at(L, -1)) {
    out.kind = "vm";
    out.staged = into_staging(snap->path, staging, "vm.snap");
    out.manifest = {
        {"profile", snap->profile}, {"memory_bytes", snap->memory}, {"cpus", snap->cpus}};
  } else if (auto dir = lab_snapshot_at(L, -1)) {
    out.kind = "lab";
    out.staged = into_staging(*dir, staging, "lab");
    std::ifstream in(out.staged / "lab.json");
    auto doc = nlohmann::json::parse(in, nullptr, false);
    if (!doc.is_object()) throw fixture::BuildFailure("the lab snapshot has no lab.json", "");
    out.manifest = {{"vms", doc["vms"]}};
  } else {
    std::string what = lua_isnoneornil(L, -1) ? "nothing" : luaL_typename(L, -1);
    if (luaL_getmetafield(L, -1, "__name") == LUA_TSTRING) {
      what = lua_tostring(L, -1);
      lua_pop(L, 1);
    }
    throw fixture::BuildFailure(
        fmt::format("{} returned {}; a fixture must return vm:snapshot() (a VM fixture) or "
                    "provium:snapshot() (a lab fixture)",
                    display_of(k), what),
        "");
  }
  out.recorded = recorded;  // pushed files and booted profiles, checked on every lookup
  return out;
}

// The fixture name from `lab:vm_fixture(name)`, `provium.vm_fixture(name)` or the global.
std::string fixture_name_arg(lua_State* L, const char* what) {
  int idx = luaL_testudata(L, 1, kLabMeta) ? 2 : 1;
  if (lua_type(L, idx) != LUA_TSTRING)
    raise(L,
          fmt::format("{}: expected a fixture name (root-relative, without .fixture.lua), got {}",
                      what, luaL_typename(L, idx)));
  std::string name = lua_tostring(L, idx);
  if (name.ends_with(".fixture.lua")) name.resize(name.size() - std::string(".fixture.lua").size());
  return name;
}

fixture::Obtained obtain(lua_State* L, const std::string& name, const char* what, bool force) {
  std::string err;
  try {
    return obtain_fixture(context(L), name, what, force);
  } catch (const std::exception& e) {
    err = e.what();
  }
  raise(L, err);
}

void emit_hit(FileContext& ctx, const std::string& name) {
  if (!ctx.bus) return;
  events::MetaMap p;
  p["path"] = events::str(name);
  ctx.bus->emit("fixture_cache_hit", std::move(p));
}

void require_kind(lua_State* L, const fixture::Obtained& o, const char* want, const char* what) {
  if (o.entry.kind == want) return;
  if (o.entry.kind == "lab")
    raise(L, fmt::format("{}: fixture `{}` is a lab fixture (it returns provium:snapshot()); use "
                         "lab_fixture(\"{}\")",
                         what, o.key.name, o.key.name));
  raise(L, fmt::format("{}: fixture `{}` is a VM fixture (it returns vm:snapshot()); use "
                       "vm_fixture(\"{}\")",
                       what, o.key.name, o.key.name));
}

std::string unique_vm_name(FileContext& ctx, const std::string& name) {
  std::string base = "fixture:" + name;
  std::replace(base.begin(), base.end(), '/', '_');
  std::string n = base;
  for (int i = 2; ctx.root_lab->find_vm(n); ++i) n = fmt::format("{}#{}", base, i);
  return n;
}

// Restores a VM entry into a new root-lab VM; "" on success, else the error.
std::string restore_vm_entry(lua_State* L, const fixture::Obtained& o, VmPtr& out) {
  auto& ctx = context(L);
  const auto& m = o.entry.manifest;
  std::string profile = m.value("profile", "");
  if (!ctx.config->profiles.count(profile))
    return fmt::format("its profile `{}` is not defined in provium.toml any more", profile);
  auto vm = std::make_shared<lab::Vm>(
      unique_vm_name(ctx, o.key.name), profile, ctx.root_lab->name(),
      m.value("memory_bytes", std::uint64_t{512} << 20), m.value("cpus", 1u), events::MetaMap{});
  vmm::BootRequest req = make_boot_request(L, vm, 0, "vm_fixture");
  try {
    lab::restore_vm(ctx, vm, std::move(req), o.entry.snapshot.string());
  } catch (const std::exception& e) {
    return e.what();
  }
  ctx.root_lab->add_vm(vm);  // fixture VMs belong to the file root (REFERENCE §5.1)
  out = vm;
  return {};
}

// The lookup flow both forms share: obtain, restore, and when a cached entry will not
// restore, evict it and build once more (REFERENCE §8.2 step 6); a hit is reported only
// after its restore succeeded. `restore(o)` returns "" on success, else the error.
template <typename Restore>
void obtain_and_restore(lua_State* L, const std::string& name, const char* kind, const char* what,
                        Restore restore) {
  auto& ctx = context(L);
  auto o = obtain(L, name, what, false);
  require_kind(L, o, kind, what);
  std::string err = restore(o);
  if (!err.empty() && o.from_cache) {
    ctx.fixtures->discard(o, err);
    o = obtain(L, name, what, true);
    err = restore(o);
  }
  if (!err.empty()) raise(L, fmt::format("{}: fixture `{}`: restore failed: {}", what, name, err));
  if (o.from_cache) {
    ctx.fixtures->cache().touch(o.entry);
    emit_hit(ctx, name);
  }
}

int vm_fixture(lua_State* L) {
  auto& ctx = context(L);
  std::string name = fixture_name_arg(L, "vm_fixture");
  if (ctx.listing) {
    push_vm(L, std::make_shared<lab::Vm>(name, "<fixture>", "provium", 0, 0, events::MetaMap{}));
    return 1;
  }
  VmPtr vm;
  obtain_and_restore(L, name, "vm", "vm_fixture",
                     [&](const fixture::Obtained& o) { return restore_vm_entry(L, o, vm); });
  push_vm(L, vm);
  return 1;
}

int lab_fixture(lua_State* L) {
  auto& ctx = context(L);
  std::string name = fixture_name_arg(L, "lab_fixture");
  std::string sub = fmt::format("{}-{}", name, ::getpid());
  std::replace(sub.begin(), sub.end(), '/', '_');
  std::string unique = sub;
  for (int i = 2; ctx.root_lab->find_sub_lab(unique); ++i) unique = fmt::format("{}#{}", sub, i);
  if (ctx.listing) {
    push_lab(L, std::make_shared<lab::Lab>(unique));
    return 1;
  }
  LabPtr lab;
  obtain_and_restore(L, name, "lab", "lab_fixture", [&](const fixture::Obtained& o) {
    lab = ctx.root_lab->add_sub_lab(unique);
    std::string err = restore_lab_dir(L, lab, o.entry.snapshot.string());
    if (!err.empty()) ctx.root_lab->remove(unique);
    return err;
  });
  push_lab(L, lab);
  return 1;
}

constexpr Method kLabFixtureMethods[] = {
    {"vm_fixture", guarded<vm_fixture>, "path: string", "Vm",
     "A VM restored from the cached fixture `path` (root-relative, built when missing or stale)."},
    {"lab_fixture", guarded<lab_fixture>, "path: string", "Lab",
     "A sub-lab restored from the cached lab fixture `path` (built when missing or stale)."},
};

}  // namespace

const TypeDecl kLabFixtureApi = declare_type("Lab", kLabMeta, kLabFixtureMethods);

fixture::Obtained obtain_fixture(FileContext& ctx, const std::string& name, const char* what,
                                 bool force) {
  if (!ctx.fixtures)
    throw std::runtime_error(
        fmt::format("{}: fixture `{}`: this run has no fixture cache", what, name));
  if (!ctx.fixtures->snapshots_supported())
    throw std::runtime_error(fmt::format(
        "{}: fixture `{}`: the {} backend cannot take snapshots; run fixtures with --vmm qemu",
        what, name, ctx.backend ? ctx.backend->name() : "selected"));
  auto& stack = ctx.fixture_stack;
  if (std::find(stack.begin(), stack.end(), name) != stack.end()) {
    std::string chain;
    for (auto& n : stack) chain += n + " → ";
    throw std::runtime_error(
        fmt::format("{}: fixture `{}` uses itself ({}{})", what, name, chain, name));
  }
  FileContext* c = &ctx;
  auto keep_waiting = [c] { return !c->interrupt || !c->interrupt->pending(); };
  auto builder = [c](const fixture::FixtureKey& k, const fs::path& staging) {
    return build_fixture(*c, k, staging);
  };
  try {
    auto on_wait = [c](bool begin) {
      if (c->account) c->account->waiting(begin);
    };
    return ctx.fixtures->obtain(name, builder, keep_waiting, force, on_wait);
  } catch (const fixture::BuildFailure& f) {
    std::string err = fmt::format("{}: fixture `{}` failed to build: {}", what, name, f.what());
    if (!f.traceback.empty()) err += "\n" + f.traceback;
    throw std::runtime_error(err);
  } catch (const fixture::KeyError& e) {
    throw std::runtime_error(fmt::format("{}: {}", what, e.what()));
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("{}: fixture `{}`: {}", what, name, e.what()));
  }
}

void register_lab_fixtures(lua_State* L, int methods_idx) {
  register_methods(L, kLabFixtureApi, methods_idx);
}

}  // namespace provium::lua
