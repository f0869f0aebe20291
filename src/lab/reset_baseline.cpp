#include "lab/reset_baseline.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "lab/boot.hpp"
#include "lab/lab_snapshot.hpp"
#include "util/host.hpp"
#include "vmm/spawner.hpp"

namespace provium::lab {

namespace fs = std::filesystem;

ResetBaseline::~ResetBaseline() {
  if (dir_.empty()) return;
  std::error_code ec;
  fs::remove_all(dir_, ec);
  vmm::janitor_forget(dir_);
}

void ResetBaseline::take(const Lab& root) {
  auto running = running_members(root);
  if (running.empty()) return;
  dir_ = fmt::format("{}/provium-baseline-{}-{}", util::temp_dir(), ::getpid(),
                     std::chrono::steady_clock::now().time_since_epoch().count());
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw Error(fmt::format("cannot create `{}`: {}", dir_, ec.message()));
  vmm::janitor_watch(dir_);
  std::string err;
  std::vector<bool> paused;
  for (auto& m : running) {
    bool booted = m.vm->state() == VmState::Booted;
    try {
      if (booted) m.vm->pause();
    } catch (const std::exception& e) {
      err = fmt::format("vm `{}`: cannot pause: {}", m.vm->name(), e.what());
      break;
    }
    paused.push_back(booted);
  }
  for (auto& m : running) {
    if (!err.empty()) break;
    std::string name = m.path;
    for (char& c : name)
      if (c == '/') c = '~';
    std::string path = (fs::path(dir_) / (name + ".snap")).string();
    try {
      m.vm->snapshot(path);
      vms_.push_back({m.vm, path});
    } catch (const std::exception& e) {
      if (err.empty()) err = fmt::format("vm `{}`: {}", m.vm->name(), e.what());
    }
  }
  for (std::size_t i = 0; i < paused.size(); ++i)
    if (paused[i]) resume_quietly(*running[i].vm);
  if (!err.empty()) throw Error("cannot save the baseline: " + err);
}

std::string ResetBaseline::restore(Session& s) {
  std::string problems;
  for (auto& [vm, path] : vms_) {
    try {
      restore_vm(s, vm, boot_request(s, *vm, vm->memory(), vm->cpus(), {}), path);
    } catch (const std::exception& e) {
      problems += fmt::format("{}vm `{}`: {}", problems.empty() ? "" : "; ", vm->name(), e.what());
    }
  }
  return problems;
}

}  // namespace provium::lab
