#include "lab/boot.hpp"

#include <fmt/format.h>

#include <future>

#include "lab/nic_wiring.hpp"

namespace provium::lab {

void boot_vms(Session& s, const std::vector<VmPtr>& vms, std::vector<vmm::BootRequest> reqs) {
  for (auto& vm : vms)
    if (auto r = vm->refusal(VmOp::Boot)) throw Error(fmt::format("vm `{}`: {}", vm->name(), *r));
  auto undo = [&] {
    for (auto& vm : vms) vm->machine() ? (void)vm->shutdown() : vm->drop_charge();
  };
  // All members are charged in one request: a lab never holds part of what it needs.
  try {
    charge_vms(s, vms, reqs, "booting");
    for (std::size_t i = 0; i < vms.size(); ++i) prepare_nics(s, vms[i], reqs[i]);
  } catch (const std::exception& e) {
    undo();
    throw Error(vms.size() == 1 ? fmt::format("vm `{}`: {}", vms[0]->name(), e.what())
                                : std::string(e.what()));
  }
  auto policy = s.is_local() ? std::launch::deferred : std::launch::async;
  std::vector<std::future<std::string>> boots;
  for (std::size_t i = 0; i < vms.size(); ++i)
    boots.push_back(std::async(policy, [&, i]() -> std::string {
      try {
        vms[i]->boot(s.backend, reqs[i]);
        return {};
      } catch (const std::exception& e) {
        return fmt::format("vm `{}`: {}", vms[i]->name(), e.what());
      }
    }));
  std::string err;
  for (auto& b : boots)
    if (auto e = b.get(); !e.empty() && err.empty()) err = e;
  if (err.empty())
    for (auto& vm : vms) {
      try {
        configure_guest_nics(s, vm);
      } catch (const std::exception& e) {
        err = e.what();
        break;
      }
    }
  if (!err.empty()) {
    undo();
    throw Error(err);
  }
  for (std::size_t i = 0; i < vms.size(); ++i) {
    record_profile(s, vms[i]->profile());
    emit_vm_spawned(s, *vms[i], reqs[i].memory_bytes);
  }
}

void restore_vm(Session& s, const VmPtr& vm, vmm::BootRequest req, const std::string& path) {
  std::uint64_t memory = req.memory_bytes;
  charge_vms(s, {vm}, {req}, "restoring");
  prepare_nics(s, vm, req);  // the same TAPs again: the guest keeps its addresses
  vm->restore(s.backend, std::move(req), path);
  emit_vm_spawned(s, *vm, memory);
}

void reset_vm(Session& s, const VmPtr& vm) {
  vm->reset();
  rewire_sandbox_nics(s, vm);
}

}  // namespace provium::lab
