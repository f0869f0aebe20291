#include "lab/lab_snapshot.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>

#include "lab/boot.hpp"
#include "lab/lab_snapshot_net.hpp"
#include "lab/nic_wiring.hpp"

namespace provium::lab {
namespace {

namespace fs = std::filesystem;

void collect(const Lab& l, const std::string& prefix, std::vector<LabMember>& out) {
  for (auto& vm : l.vms()) {
    auto st = vm->state();
    if (st == VmState::Booted || st == VmState::Paused) out.push_back({prefix + vm->name(), vm});
  }
  for (auto& sub : l.sub_labs()) collect(*sub, prefix + sub->name() + "/", out);
}

std::string file_name_for(const std::string& member) {
  std::string f = member;
  for (char& c : f)
    if (c == '/') c = '~';
  return f + ".snap";
}

// Runs `f(i)` for every index at once and returns the first error text ("" when none).
template <typename F>
std::string in_parallel(std::size_t n, F f) {
  std::vector<std::future<std::string>> runs;
  for (std::size_t i = 0; i < n; ++i)
    runs.push_back(std::async(std::launch::async, [&f, i]() -> std::string {
      try {
        f(i);
        return {};
      } catch (const std::exception& e) {
        return e.what();
      }
    }));
  std::string err;
  for (auto& r : runs)
    if (auto e = r.get(); !e.empty() && err.empty()) err = e;
  return err;
}

}  // namespace

std::vector<LabMember> running_members(const Lab& lab) {
  std::vector<LabMember> out;
  collect(lab, "", out);
  return out;
}

void save_lab(const Lab& lab, const std::string& dir) {
  auto running = running_members(lab);
  if (running.empty()) throw Error(fmt::format("lab `{}` has no booted VM to save", lab.name()));
  refuse_live_captures(lab);
  std::error_code ec;
  bool created = !fs::exists(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) throw Error(fmt::format("cannot create `{}`: {}", dir, ec.message()));

  // Pause everything first (a consistent set), then save in parallel, then resume.
  std::vector<bool> was_running;
  for (auto& m : running) {
    was_running.push_back(m.vm->state() == VmState::Booted);
    if (was_running.back()) m.vm->pause();
  }
  std::string err = in_parallel(running.size(), [&](std::size_t i) {
    try {
      running[i].vm->snapshot((fs::path(dir) / file_name_for(running[i].path)).string());
    } catch (const std::exception& e) {
      throw Error(fmt::format("vm `{}`: {}", running[i].path, e.what()));
    }
  });
  for (std::size_t i = 0; i < running.size(); ++i)
    if (was_running[i]) running[i].vm->resume();

  nlohmann::json vms = nlohmann::json::array();
  std::map<const void*, std::string> vm_paths;
  for (auto& m : running) {
    vms.push_back({{"vm_name", m.path},
                   {"profile", m.vm->profile()},
                   {"snapshot_path", file_name_for(m.path)},
                   {"memory_bytes", m.vm->memory()},
                   {"cpus", m.vm->cpus()}});
    vm_paths[m.vm.get()] = m.path;
  }
  if (err.empty()) {
    nlohmann::json doc = {
        {"format_version", 1}, {"vms", vms}, {"bridges", bridges_json(lab, vm_paths)}};
    std::ofstream out(fs::path(dir) / "lab.json");
    out << doc.dump(2) << "\n";
    out.flush();
    if (!out) err = fmt::format("cannot write `{}/lab.json`", dir);
  }
  if (err.empty()) return;
  // Nothing half-written: a directory without lab.json or with some VMs missing would look
  // like a snapshot to the next restore.
  if (created) {
    fs::remove_all(dir, ec);
  } else {
    for (auto& m : running) fs::remove(fs::path(dir) / file_name_for(m.path), ec);
    fs::remove(fs::path(dir) / "lab.json", ec);
  }
  throw Error(err);
}

void restore_lab(Session& s, const LabPtr& lab, const std::string& dir,
                 const std::function<void(const VmPtr&)>& on_new_vm) {
  std::ifstream in(fs::path(dir) / "lab.json");
  if (!in) throw Error(fmt::format("`{}/lab.json`: {}", dir, std::strerror(errno)));
  auto doc = nlohmann::json::parse(in, nullptr, false);
  if (!doc.is_object() || doc.value("format_version", 0) != 1 || !doc.contains("vms"))
    throw Error(fmt::format("`{}/lab.json` is not a provium lab snapshot (format_version 1)", dir));
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
      throw Error(fmt::format("`{}/lab.json`: a VM entry lacks its name or file", dir));
    if (!s.config->profiles.count(e.profile))
      throw Error(fmt::format("vm `{}` needs profile `{}`, which provium.toml does not define",
                              e.name, e.profile));
    // "sub/leaf": the leaf goes into (a lookup-or-create of) the sub-lab chain.
    std::string leaf = e.name;
    for (auto slash = leaf.find('/'); slash != std::string::npos; slash = leaf.find('/')) {
      std::string sub = leaf.substr(0, slash);
      auto next = e.owner->find_sub_lab(sub);
      e.owner = next ? next : e.owner->add_sub_lab(sub);
      leaf = leaf.substr(slash + 1);
    }
    if (e.owner->find_vm(leaf))
      throw Error(
          fmt::format("a VM named `{}` already exists in lab `{}`", e.name, e.owner->name()));
    e.name = leaf;
    entries.push_back(std::move(e));
  }
  std::vector<VmPtr> vms;
  std::map<std::string, VmPtr> by_path;
  std::vector<vmm::BootRequest> reqs;
  for (auto& e : entries) {
    auto vm = std::make_shared<Vm>(e.name, e.profile, e.owner->name(), e.memory, e.cpus,
                                   events::MetaMap{});
    e.owner->add_vm(vm);
    if (on_new_vm) on_new_vm(vm);
    vms.push_back(vm);
    by_path[e.path] = vm;
    reqs.push_back(boot_request(s, *vm, vm->memory(), vm->cpus(), {}));
  }
  MadeBridges bridges;
  auto undo = [&] {
    for (std::size_t i = 0; i < vms.size(); ++i) {
      vms[i]->shutdown();
      entries[i].owner->remove(entries[i].name);
    }
    for (auto& [owner, b] : bridges) owner->remove_bridge(b->name());
  };
  try {
    bridges = restore_bridges(s, lab, doc, by_path);
    charge_vms(s, vms, reqs, "restoring");
    for (std::size_t i = 0; i < vms.size(); ++i) prepare_nics(s, vms[i], reqs[i]);
  } catch (const std::exception& e) {
    undo();
    throw Error(e.what());
  }
  std::string err = in_parallel(vms.size(), [&](std::size_t i) {
    try {
      vms[i]->restore(s.backend, reqs[i], (fs::path(dir) / entries[i].file).string());
    } catch (const std::exception& e) {
      throw Error(fmt::format("vm `{}`: {}", entries[i].name, e.what()));
    }
  });
  if (!err.empty()) {
    undo();
    throw Error(err + " (every VM and bridge of this restore was removed again)");
  }
  for (auto& vm : vms) emit_vm_spawned(s, *vm, vm->memory());
}

}  // namespace provium::lab
