#include "lab/session.hpp"

#include <fmt/format.h>

#include <cstdlib>

#include "fixture/service.hpp"
#include "util/host.hpp"

namespace provium::lab {

std::string Session::scratch_base() const {
  if (!snapshot_dir.empty()) return snapshot_dir;
  return util::temp_dir();
}

vmm::BootRequest boot_request(const Session& s, const Vm& vm, std::uint64_t memory,
                              std::uint32_t cpus, const events::MetaMap& boot_opts) {
  if (cpus == 0) throw Error("cpus must be at least 1");
  auto profile = s.config->profiles.find(vm.profile());
  if (profile == s.config->profiles.end())
    throw Error(fmt::format("vm `{}` needs profile `{}`, which provium.toml does not define",
                            vm.name(), vm.profile()));
  vmm::BootRequest req;
  req.file = s.file;
  req.lab = vm.lab();
  req.vm_name = vm.name();
  req.profile = &profile->second;
  if (memory < (1ull << 20)) memory = 1ull << 20;
  req.memory_bytes = memory & ~((1ull << 20) - 1);  // floored to MiB
  req.cpus = cpus;
  req.options = vm.create_opts();
  for (auto& [k, v] : boot_opts) req.options[k] = v;
  if (auto it = req.options.find("agent_timeout"); it != req.options.end()) {
    double t = it->second.as_int() ? static_cast<double>(*it->second.as_int())
               : std::holds_alternative<double>(it->second.v) ? std::get<double>(it->second.v)
                                                              : -1;
    if (!(t > 0)) throw Error("agent_timeout must be a positive number of seconds");
    req.agent_timeout = t;
  } else if (req.profile->agent_boot_timeout) {
    req.agent_timeout = req.profile->agent_boot_timeout;
  }
  return req;
}

void charge_vms(Session& s, const std::vector<VmPtr>& vms,
                const std::vector<vmm::BootRequest>& reqs, const std::string& verb) {
  if (!s.account) return;  // no pool: REPL, `fixture build`, listing
  // A VM that already holds a charge (a restore in place) keeps it; the others are charged in
  // one request, so a lab's members never hold half of what they need while waiting.
  std::vector<std::size_t> todo;
  std::vector<scheduler::Amount> amounts;
  for (std::size_t i = 0; i < vms.size(); ++i) {
    if (vms[i]->charged()) continue;
    todo.push_back(i);
    amounts.push_back(scheduler::vm_charge(reqs[i].memory_bytes, reqs[i].cpus));
  }
  if (todo.empty()) return;
  std::string names;
  for (std::size_t i : todo)
    names += fmt::format("{}`{}`", names.empty() ? "" : ", ", vms[i]->name());
  auto granted = s.account->reserve(amounts, fmt::format("{} {}", verb, names));
  for (std::size_t j = 0; j < todo.size(); ++j) vms[todo[j]]->hold(std::move(granted[j]));
}

void emit_vm_spawned(Session& s, const Vm& vm, std::uint64_t memory) {
  if (!s.bus) return;
  events::MetaMap p;
  p["file"] = events::str(s.file);
  p["vm_name"] = events::str(vm.name());
  p["profile"] = events::str(vm.profile());
  p["memory_bytes"] = events::num(static_cast<std::int64_t>(memory));
  p["cid"] = events::num(vm.cid().value_or(0));
  p["lab"] = events::str(vm.lab());
  s.bus->emit("vm_spawned", std::move(p));
}

namespace {

void emit_vm_shutdown(Session& s, const Vm& vm, std::optional<std::chrono::nanoseconds> uptime) {
  if (uptime && s.bus) {
    events::MetaMap p;
    p["file"] = events::str(s.file);
    p["vm_name"] = events::str(vm.name());
    p["duration_ns"] = events::num(static_cast<std::int64_t>(uptime->count()));
    p["lab"] = events::str(vm.lab());
    s.bus->emit("vm_shutdown", std::move(p));
  }
}

}  // namespace

void shutdown_and_report(Session& s, Vm& vm) { emit_vm_shutdown(s, vm, vm.shutdown()); }

void power_off(Session& s, Vm& vm) { emit_vm_shutdown(s, vm, vm.power_button()); }

void shutdown_tree(Session& s, Lab& l) {
  for (auto& sub : l.sub_labs()) shutdown_tree(s, *sub);
  for (auto& vm : l.vms()) shutdown_and_report(s, *vm);
}

void record_profile(Session& s, const std::string& profile) {
  if (!s.recorded || !s.fixtures || !s.config) return;
  auto it = s.config->profiles.find(profile);
  if (it == s.config->profiles.end()) return;
  for (auto& r : *s.recorded)
    if (r.value("kind", "") == "profile" && r.value("name", "") == profile) return;
  s.recorded->push_back(
      {{"kind", "profile"}, {"name", profile}, {"digest", s.fixtures->profile_digest(it->second)}});
}

}  // namespace provium::lab
