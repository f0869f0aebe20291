#include "lab/lab_snapshot.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <set>

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

void resume_quietly(Vm& vm) {
  try {
    vm.resume();
  } catch (const std::exception&) {
    // A VM that cannot resume is reported by its next operation; the others still resume.
  }
}

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
  std::vector<bool> paused;
  std::string err;
  for (auto& m : running) {
    bool booted = m.vm->state() == VmState::Booted;
    try {
      if (booted) m.vm->pause();
    } catch (const std::exception& e) {
      err = fmt::format("vm `{}`: cannot pause: {}", m.path, e.what());
      break;
    }
    paused.push_back(booted);
  }
  if (err.empty())
    err = in_parallel(running.size(), [&](std::size_t i) {
      try {
        running[i].vm->snapshot((fs::path(dir) / file_name_for(running[i].path)).string());
      } catch (const std::exception& e) {
        throw Error(fmt::format("vm `{}`: {}", running[i].path, e.what()));
      }
    });
  for (std::size_t i = 0; i < paused.size(); ++i)
    if (paused[i]) resume_quietly(*running[i].vm);

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
  std::string json_path = (fs::path(dir) / "lab.json").string();
  std::ifstream in(json_path);
  if (!in) throw Error(fmt::format("`{}`: {}", json_path, std::strerror(errno)));
  auto doc = nlohmann::json::parse(in, nullptr, false);
  struct Entry {
    std::string path;  // "sub/leaf" as saved
    std::string file;
    LabPtr owner;
    VmPtr vm;
    vmm::BootRequest req;
  };
  std::vector<Entry> entries;
  std::vector<std::pair<LabPtr, std::string>> made_labs;  // sub-labs this call created
  MadeBridges bridges;
  auto undo = [&] {
    for (auto& e : entries)
      if (e.owner->find_vm(e.vm->name()) == e.vm) {
        e.vm->shutdown();
        e.owner->remove(e.vm->name());
      }
    for (auto& [owner, b] : bridges) owner->remove_bridge(b->name());
    for (auto it = made_labs.rbegin(); it != made_labs.rend(); ++it) it->first->remove(it->second);
  };
  // Everything is checked, and every request built, before any VM joins the lab.
  try {
    if (!doc.is_object() || doc.value("format_version", 0) != 1 || !doc.contains("vms") ||
        !doc["vms"].is_array())
      throw Error(fmt::format("`{}` is not a provium lab snapshot (format_version 1)", json_path));
    std::set<std::string> seen;
    for (auto& v : doc["vms"]) {
      Entry e{v.value("vm_name", ""), v.value("snapshot_path", ""), lab, nullptr, {}};
      std::string profile = v.value("profile", "");
      if (e.path.empty() || e.file.empty())
        throw Error(fmt::format("`{}`: a VM entry lacks its name or file", json_path));
      if (!seen.insert(e.path).second)
        throw Error(fmt::format("`{}`: VM `{}` appears twice", json_path, e.path));
      if (!s.config->profiles.count(profile))
        throw Error(fmt::format("vm `{}` needs profile `{}`, which provium.toml does not define",
                                e.path, profile));
      // "sub/leaf": the leaf goes into (a lookup-or-create of) the sub-lab chain.
      std::string leaf = e.path;
      for (auto slash = leaf.find('/'); slash != std::string::npos; slash = leaf.find('/')) {
        std::string sub = leaf.substr(0, slash);
        auto next = e.owner->find_sub_lab(sub);
        if (!next) {
          next = e.owner->add_sub_lab(sub);
          made_labs.push_back({e.owner, sub});
        }
        e.owner = next;
        leaf = leaf.substr(slash + 1);
      }
      if (e.owner->find_vm(leaf))
        throw Error(
            fmt::format("a VM named `{}` already exists in lab `{}`", e.path, e.owner->name()));
      e.vm = std::make_shared<Vm>(leaf, profile, e.owner->name(),
                                  v.value("memory_bytes", std::uint64_t{512} << 20),
                                  v.value("cpus", 1u), events::MetaMap{});
      e.req = boot_request(s, *e.vm, e.vm->memory(), e.vm->cpus(), {});
      entries.push_back(std::move(e));
    }
  } catch (const nlohmann::json::exception& e) {
    undo();
    throw Error(fmt::format("`{}` is not a provium lab snapshot: {}", json_path, e.what()));
  } catch (const Error&) {
    undo();
    throw;
  }
  std::vector<VmPtr> vms;
  std::vector<vmm::BootRequest> reqs;
  std::map<std::string, VmPtr> by_path;
  for (auto& e : entries) {
    e.owner->add_vm(e.vm);
    if (on_new_vm) on_new_vm(e.vm);
    vms.push_back(e.vm);
    reqs.push_back(e.req);
    by_path[e.path] = e.vm;
  }
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
      throw Error(fmt::format("vm `{}`: {}", entries[i].path, e.what()));
    }
  });
  if (!err.empty()) {
    undo();
    throw Error(err + " (every VM and bridge of this restore was removed again)");
  }
  for (auto& vm : vms) emit_vm_spawned(s, *vm, vm->memory());
}

}  // namespace provium::lab
