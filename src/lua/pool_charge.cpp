// Charging VMs to the pool or the file's claim before they boot or restore (REFERENCE §10.2).
// A VM that already holds a charge (a restore in place) keeps it; the others are charged in
// one request, so a lab's members never hold half of what they need while waiting.
#include <fmt/format.h>

#include "lua/context.hpp"
#include "lua/lab_vm.hpp"

namespace provium::lua {

void charge_vms(FileContext& ctx, const std::vector<std::shared_ptr<lab::Vm>>& vms,
                const std::vector<vmm::BootRequest>& reqs, const std::string& verb) {
  if (!ctx.account) return;  // no pool: REPL, `fixture build`, listing
  std::vector<size_t> todo;
  std::vector<scheduler::Amount> amounts;
  for (size_t i = 0; i < vms.size(); ++i) {
    if (vms[i]->charged()) continue;
    todo.push_back(i);
    amounts.push_back(scheduler::vm_charge(reqs[i].memory_bytes, reqs[i].cpus));
  }
  if (todo.empty()) return;
  std::string names;
  for (size_t i : todo) names += fmt::format("{}`{}`", names.empty() ? "" : ", ", vms[i]->name());
  auto granted = ctx.account->reserve(amounts, fmt::format("{} {}", verb, names));
  for (size_t j = 0; j < todo.size(); ++j) vms[todo[j]]->hold(std::move(granted[j]));
}

void charge_vm(FileContext& ctx, const std::shared_ptr<lab::Vm>& vm, const vmm::BootRequest& req,
               const std::string& verb) {
  charge_vms(ctx, {vm}, {req}, verb);
}

}  // namespace provium::lua
