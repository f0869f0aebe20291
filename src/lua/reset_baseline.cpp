// provium.reset_between_tests (REFERENCE §4.7): after the top-level chunk every running VM of
// the file (root lab and sub-labs) is saved to a private directory, all paused first so the set
// is consistent; after each test each one is restored from it. Lua variables are not reset.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <lua.hpp>

#include "lua/context.hpp"
#include "lua/lab_vm.hpp"
#include "lua/net_objects.hpp"
#include "lua/support.hpp"
#include "vmm/spawner.hpp"

namespace provium::lua {
namespace {

namespace fs = std::filesystem;

void collect(const lab::Lab& l, const std::string& prefix,
             std::vector<std::pair<std::shared_ptr<lab::Vm>, std::string>>& out) {
  for (auto& vm : l.vms()) {
    auto st = vm->state();
    if (st == lab::VmState::Booted || st == lab::VmState::Paused)
      out.push_back({vm, prefix + vm->name()});
  }
  for (auto& sub : l.sub_labs()) collect(*sub, prefix + sub->name() + "~", out);
}

}  // namespace

ResetBaseline::~ResetBaseline() {
  if (dir.empty()) return;
  std::error_code ec;
  fs::remove_all(dir, ec);
  vmm::janitor_forget(dir);
}

int take_reset_baseline(lua_State* L) {
  auto* b = static_cast<ResetBaseline*>(lua_touserdata(L, lua_upvalueindex(1)));
  auto& ctx = context(L);
  std::vector<std::pair<std::shared_ptr<lab::Vm>, std::string>> running;
  collect(*ctx.root_lab, "", running);
  for (auto& [vm, name] : running)
    refuse_live_streams(L, *vm, vm->name(), "provium.reset_between_tests");
  if (running.empty()) return 0;
  const char* t = std::getenv("TMPDIR");
  b->dir = fmt::format("{}/provium-baseline-{}-{}", (t && *t) ? t : "/tmp", ::getpid(),
                       std::chrono::steady_clock::now().time_since_epoch().count());
  std::error_code ec;
  fs::create_directories(b->dir, ec);
  if (ec)
    raise(L,
          fmt::format("provium.reset_between_tests: cannot create `{}`: {}", b->dir, ec.message()));
  vmm::janitor_watch(b->dir);
  std::string err;
  std::vector<bool> was_running;
  for (auto& [vm, name] : running) {
    was_running.push_back(vm->state() == lab::VmState::Booted);
    if (was_running.back()) vm->pause();
  }
  for (auto& [vm, name] : running) {
    std::string path = (fs::path(b->dir) / (name + ".snap")).string();
    try {
      vm->snapshot(path);
      b->vms.push_back({vm, path});
    } catch (const std::exception& e) {
      if (err.empty()) err = fmt::format("vm `{}`: {}", vm->name(), e.what());
    }
  }
  for (std::size_t i = 0; i < running.size(); ++i)
    if (was_running[i]) running[i].first->resume();
  if (!err.empty()) raise(L, "provium.reset_between_tests: cannot save the baseline: " + err);
  return 0;
}

std::string restore_reset_baseline(FileContext& ctx, ResetBaseline& b) {
  std::string problems;
  for (auto& [vm, path] : b.vms) {
    vmm::BootRequest req;
    req.file = ctx.file;
    req.lab = vm->lab();
    req.vm_name = vm->name();
    req.profile = &ctx.config->profiles.at(vm->profile());
    req.memory_bytes = vm->memory();
    req.cpus = vm->cpus();
    req.options = vm->create_opts();
    req.agent_timeout = req.profile->agent_boot_timeout;
    try {
      charge_vm(ctx, vm, req, "restoring");
      prepare_nics(ctx, vm, req);
      vm->restore(ctx.backend, std::move(req), path);
      emit_vm_spawned(ctx, vm, vm->memory());
    } catch (const std::exception& e) {
      problems += fmt::format("{}vm `{}`: {}", problems.empty() ? "" : "; ", vm->name(), e.what());
    }
  }
  return problems;
}

}  // namespace provium::lua
