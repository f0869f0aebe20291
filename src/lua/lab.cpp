// The Lab object (REFERENCE §5.1): the global `provium`, test scopes and sub-labs.
#include "lab/lab.hpp"

#include <fmt/format.h>

#include <lua.hpp>
#include <set>

#include "lab/boot.hpp"
#include "lua/bindings.hpp"
#include "lua/context.hpp"
#include "lua/lab_vm.hpp"
#include "lua/net_objects.hpp"
#include "lua/support.hpp"
#include "util/duration.hpp"

namespace provium::lua {
namespace {

using LabPtr = std::shared_ptr<lab::Lab>;

const LabPtr& check_lab(lua_State* L, const char* what) {
  return check_shared<lab::Lab>(L, 1, kLabMeta, what);
}

int lab_name(lua_State* L) {
  lua_pushstring(L, check_lab(L, "lab:name")->name().c_str());
  return 1;
}

int lab_tostring(lua_State* L) {
  auto& lab = check_lab(L, "tostring");
  lua_pushstring(L, fmt::format("lab({}; {} vm(s))", lab->name(), lab->vms().size()).c_str());
  return 1;
}

void push_names(lua_State* L, const std::vector<std::string>& names) {
  lua_createtable(L, static_cast<int>(names.size()), 0);
  for (size_t i = 0; i < names.size(); ++i) {
    lua_pushstring(L, names[i].c_str());
    lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
  }
}

int lab_vm_names(lua_State* L) {
  push_names(L, check_lab(L, "lab:vm_names")->vm_names());
  return 1;
}
int lab_sub_lab_names(lua_State* L) {
  push_names(L, check_lab(L, "lab:sub_lab_names")->sub_lab_names());
  return 1;
}
int lab_members(lua_State* L) {
  auto& lab = check_lab(L, "lab:members");
  lua_newtable(L);
  lua_Integer i = 0;
  auto add = [&](const char* kind, const std::string& name) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, name.c_str());
    lua_setfield(L, -2, "name");
    lua_rawseti(L, -2, ++i);
  };
  for (auto& n : lab->vm_names()) add("vm", n);
  for (auto& n : lab->sub_lab_names()) add("sub_lab", n);
  return 1;
}

int lab_vm(lua_State* L) {
  auto& lab = check_lab(L, "lab:vm");
  std::string name = luaL_checkstring(L, 2);
  if (lua_isnoneornil(L, 3)) {
    auto vm = lab->find_vm(name);
    if (!vm) raise(L, fmt::format("lab:vm: no VM named `{}` in lab `{}`", name, lab->name()));
    push_vm(L, vm);
    return 1;
  }
  auto& ctx = context(L);
  std::string profile = luaL_checkstring(L, 3);
  if (!ctx.config || !ctx.config->profiles.count(profile)) {
    std::string known;
    if (ctx.config)
      for (auto& [n, p] : ctx.config->profiles) known += (known.empty() ? "" : ", ") + n;
    raise(L, fmt::format("lab:vm: unknown profile `{}` (profiles in {}: {})", profile,
                         ctx.config ? ctx.config->path.filename().string() : "provium.toml",
                         known.empty() ? "none" : known));
  }
  if (!lua_isnoneornil(L, 4)) luaL_checktype(L, 4, LUA_TTABLE);
  VmSizing sizing = read_sizing(L, 4, "lab:vm", {512ull << 20, 1});
  lab->check_name_free(name, "lab:vm");
  auto vm = std::make_shared<lab::Vm>(name, profile, lab->name(), sizing.memory, sizing.cpus,
                                      read_options(L, 4));
  lab->add_vm(vm);
  push_vm(L, vm);
  register_resource(L, lua_gettop(L), "vm");
  return 1;
}

int lab_lab(lua_State* L) {
  auto& lab = check_lab(L, "lab:lab");
  std::optional<std::string> name;
  if (!lua_isnoneornil(L, 2)) name = luaL_checkstring(L, 2);
  push_lab(L, lab->add_sub_lab(name));
  return 1;
}

int lab_include(lua_State* L) {
  auto& lab = check_lab(L, "lab:include");
  std::vector<std::shared_ptr<lab::Vm>> vms;
  std::vector<LabPtr> labs;
  auto take = [&](int idx) {
    if (auto v = test_shared<lab::Vm>(L, idx, kVmMeta))
      vms.push_back(*v);
    else if (auto l = test_shared<lab::Lab>(L, idx, kLabMeta))
      labs.push_back(*l);
    else
      raise(L, fmt::format("lab:include: expected a VM or lab (or a list of them), got {}",
                           type_of(L, idx)));
  };
  if (lua_istable(L, 2) && !luaL_testudata(L, 2, kVmMeta)) {
    for (lua_Integer i = 1, n = luaL_len(L, 2); i <= n; ++i) {
      lua_rawgeti(L, 2, i);
      take(lua_gettop(L));
      lua_pop(L, 1);
    }
  } else {
    take(2);
  }
  // Validate the whole list before adding anything.
  std::set<std::string> names;
  for (auto& v : vms) {
    lab->check_name_free(v->name(), "lab:include");
    if (!names.insert(v->name()).second)
      raise(L, fmt::format("lab:include: `{}` appears twice in the list", v->name()));
  }
  for (auto& l : labs) {
    lab->check_name_free(l->name(), "lab:include");
    if (!names.insert(l->name()).second)
      raise(L, fmt::format("lab:include: `{}` appears twice in the list", l->name()));
  }
  for (auto& v : vms) lab->add_vm(v);
  for (auto& l : labs) lab->add_existing_lab(l);
  return 0;
}

int lab_remove(lua_State* L) {
  auto& lab = check_lab(L, "lab:remove");
  std::string name;
  if (auto v = test_shared<lab::Vm>(L, 2, kVmMeta))
    name = (*v)->name();
  else if (auto l = test_shared<lab::Lab>(L, 2, kLabMeta))
    name = (*l)->name();
  else
    name = luaL_checkstring(L, 2);
  lab->remove(name);
  return 0;
}

// Every member's state and options are checked before any boots (lab::boot_vms).
int lab_boot(lua_State* L) {
  auto& lab = check_lab(L, "lab:boot");
  auto& ctx = context(L);
  if (ctx.listing) return lua_settop(L, 1), 1;
  const auto& vms = lab->vms();
  for (auto& vm : vms)
    if (auto r = vm->refusal(lab::VmOp::Boot))
      raise(L, fmt::format("lab:boot: vm `{}`: {}", vm->name(), *r));
  std::vector<vmm::BootRequest> reqs;
  for (auto& vm : vms) reqs.push_back(make_boot_request(L, vm, 0, "lab:boot"));
  call_domain(L, "lab:boot", [&] { lab::boot_vms(ctx, vms, std::move(reqs)); });
  lua_settop(L, 1);
  return 1;
}

int lab_shutdown(lua_State* L) {
  auto& lab = check_lab(L, "lab:shutdown");
  for (auto& vm : lab->vms()) lab::shutdown_and_report(context(L), *vm);
  return 0;
}

// Checks every member first, so a refusal leaves no VM half-paused; then applies the change.
int lab_pause_resume(lua_State* L, lab::VmOp op, const char* what) {
  auto& lab = check_lab(L, what);
  for (auto& vm : lab->vms())
    if (auto r = vm->refusal(op)) raise(L, fmt::format("{}: vm `{}`: {}", what, vm->name(), *r));
  for (auto& vm : lab->vms()) op == lab::VmOp::Pause ? vm->pause() : vm->resume();
  return 0;
}
int lab_pause(lua_State* L) { return lab_pause_resume(L, lab::VmOp::Pause, "lab:pause"); }
int lab_resume(lua_State* L) { return lab_pause_resume(L, lab::VmOp::Resume, "lab:resume"); }

int lab_claim(lua_State* L) {
  check_lab(L, "lab:claim");
  luaL_checktype(L, 2, LUA_TTABLE);
  auto& ctx = context(L);
  lua_pushnil(L);
  while (lua_next(L, 2)) {
    std::string key =
        lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : luaL_tolstring(L, -2, nullptr);
    if (lua_type(L, -2) != LUA_TSTRING) lua_pop(L, 1);
    if (key != "memory" && key != "cpus")
      raise(L, fmt::format("lab:claim: unknown key `{}` (accepted keys: memory, cpus)", key));
    lua_pop(L, 1);
  }
  VmSizing amount = read_sizing(L, 2, "lab:claim", {0, 0});
  if (ctx.claim_held) raise(L, "lab claim already held; one-shot per lab");
  ctx.claim_held = true;
  if (ctx.listing) return 0;
  ctx.claim_memory = amount.memory;
  ctx.claim_cpus = amount.cpus;
  // Blocks until the pool grants the whole amount (or fails at once when it never can).
  std::optional<std::string> err;
  if (ctx.account) err = ctx.account->claim({amount.memory, amount.cpus});
  if (err) raise(L, "lab:claim: " + *err);
  ctx.claim_granted = true;
  if (ctx.bus) {
    events::MetaMap p;
    p["path"] = events::str(ctx.file);
    p["amount"] = events::amount(amount.memory, amount.cpus);
    ctx.bus->emit("claim_acquired", std::move(p));
  }
  return 0;
}

int lab_barrier(lua_State* L) {
  check_lab(L, "lab:barrier");
  std::string name = luaL_checkstring(L, 2);
  lua_Integer count = luaL_checkinteger(L, 3);
  opt_duration(L, 4, "lab:barrier: timeout");
  if (count < 1) raise(L, fmt::format("lab:barrier: count must be at least 1, got {}", count));
  auto& ctx = context(L);
  auto [it, fresh] = ctx.barriers.emplace(name, count);
  if (!fresh && it->second != count) {
    fmt::print(stderr,
               "provium: warning: {}: barrier `{}` was created with count {}, called with {}\n",
               ctx.file, name, it->second, count);
    lua_pushboolean(L, 0);
    return 1;
  }
  if (count == 1) {
    lua_pushboolean(L, 1);
    return 1;
  }
  // One file's Lua is single-threaded, so nobody else can ever arrive: say so at once
  // instead of waiting out the timeout.
  fmt::print(stderr,
             "provium: warning: {}: barrier `{}` with count {} can never be met from one file's "
             "single-threaded Lua; returning false\n",
             ctx.file, name, count);
  lua_pushboolean(L, 0);
  return 1;
}

int lab_depends_on_file(lua_State* L) {
  check_lab(L, "lab:depends_on_file");
  luaL_checkstring(L, 2);
  return 0;  // a static cache-key marker read by the fixture scanner; nothing to do at run time
}

// lab:pack / lab:unpack forward to string.pack / string.unpack without `self`.
int lab_forward_string(lua_State* L, const char* fn) {
  lua_getglobal(L, "string");
  lua_getfield(L, -1, fn);
  lua_remove(L, -2);
  lua_replace(L, 1);  // replace self with the function
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}
int lab_pack(lua_State* L) { return lab_forward_string(L, "pack"); }
int lab_unpack(lua_State* L) { return lab_forward_string(L, "unpack"); }

int lab_index(lua_State* L) {
  auto& lab = check_lab(L, "lab index");
  // Methods first, then reserved keys, then members.
  lua_getmetatable(L, 1);
  lua_getfield(L, -1, "__methods");
  lua_pushvalue(L, 2);
  if (lua_rawget(L, -2) != LUA_TNIL) return 1;
  lua_settop(L, 2);
  if (lua_type(L, 2) != LUA_TSTRING) return 0;
  std::string key = lua_tostring(L, 2);
  auto& ctx = context(L);
  if (key == "timeout") {
    if (ctx.default_test_timeout)
      lua_pushnumber(L, *ctx.default_test_timeout);
    else
      lua_pushnil(L);
    return 1;
  }
  if (key == "reset_between_tests") {
    lua_pushboolean(L, ctx.reset_between_tests);
    return 1;
  }
  if (auto vm = lab->find_vm(key)) {
    push_vm(L, vm);
    return 1;
  }
  if (auto sub = lab->find_sub_lab(key)) {
    push_lab(L, sub);
    return 1;
  }
  return 0;
}

int lab_newindex(lua_State* L) {
  auto& lab = check_lab(L, "lab assignment");
  std::string key = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : type_of(L, 2);
  auto& ctx = context(L);
  const char* known = "known keys: reset_between_tests, timeout";
  if (key != "timeout" && key != "reset_between_tests")
    raise(L, fmt::format("provium.{}: unknown file setting ({})", key, known));
  if (ctx.in_test || lab->is_test_scope())
    raise(L, fmt::format("provium.{} can only be set at file scope, not inside a test", key));
  if (key == "timeout") {
    ctx.default_test_timeout = opt_duration(L, 3, "provium.timeout");
  } else {
    if (!lua_isboolean(L, 3) && !lua_isnil(L, 3))
      raise(L, fmt::format("provium.reset_between_tests must be true or false, got {}",
                           type_of(L, 3)));
    ctx.reset_between_tests = lua_toboolean(L, 3);
  }
  return 0;
}

constexpr Method kLabMethods[] = {
    {"vm", guarded<lab_vm>,
     "name: string, profile?: string, opts?: {memory?: Size, cpus?: integer}", "Vm",
     "Creates VM `name` of `profile` in the lab; without a profile, the existing VM `name`."},
    {"lab", guarded<lab_lab>, "name?: string", "Lab", "Creates a sub-lab."},
    {"include", guarded<lab_include>, "x: Vm|Lab|(Vm|Lab)[]", "nil",
     "Adds existing VMs or labs to this lab as members."},
    {"remove", guarded<lab_remove>, "x: Vm|Lab|string", "nil",
     "Removes a member (by object or name) from this lab."},
    {"members", guarded<lab_members>, "", "{kind: \"vm\"|\"bridge\"|\"sub_lab\", name: string}[]",
     "The lab's members with their kinds."},
    {"vm_names", guarded<lab_vm_names>, "", "string[]", "The names of the lab's VMs."},
    {"sub_lab_names", guarded<lab_sub_lab_names>, "", "string[]",
     "The names of the lab's sub-labs."},
    {"name", guarded<lab_name>, "", "string", "The lab's name."},
    {"boot", guarded<lab_boot>, "", "Lab", "Boots every VM of the lab at once."},
    {"shutdown", guarded<lab_shutdown>, "", "nil", "Shuts every VM of the lab down."},
    {"pause", guarded<lab_pause>, "", "nil", "Pauses every VM (all are checked first)."},
    {"resume", guarded<lab_resume>, "", "nil", "Resumes every VM (all are checked first)."},
    {"claim", guarded<lab_claim>, "amount: {memory?: Size, cpus?: integer}", "nil",
     "Reserves memory and CPUs from the pool for the whole file, once, before booting."},
    {"barrier", guarded<lab_barrier>, "name: string, count: integer, timeout?: Duration", "boolean",
     "Meets `count` callers at barrier `name`; true when met (one file alone meets only 1)."},
    {"depends_on_file", guarded<lab_depends_on_file>, "host_path: string", "nil",
     "Marks a host file as an input of the fixture cache key (no effect at run time)."},
    {"pack", lab_pack, "fmt: string, ...", "string", "string.pack(fmt, ...)."},
    {"unpack", lab_unpack, "fmt: string, s: string, pos?: integer", "any ...",
     "string.unpack(fmt, s, pos)."},
};

}  // namespace

const TypeDecl kLabApi = declare_type("Lab", kLabMeta, kLabMethods);

void push_lab(lua_State* L, const std::shared_ptr<lab::Lab>& lab) { push_shared(L, lab, kLabMeta); }

void register_lab(lua_State* L) {
  luaL_newmetatable(L, kLabMeta);
  lua_newtable(L);
  register_methods(L, kLabApi, -1);
  register_lab_bridges(L, -1);
  register_lab_snapshot(L, -1);
  register_lab_fixtures(L, -1);
  lua_setfield(L, -2, "__methods");
  lua_pushcfunction(L, guarded<lab_index>);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, guarded<lab_newindex>);
  lua_setfield(L, -2, "__newindex");
  lua_pushcfunction(L, guarded<lab_tostring>);
  lua_setfield(L, -2, "__tostring");
  lua_pushcfunction(L, gc_shared<lab::Lab>);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
}

}  // namespace provium::lua
