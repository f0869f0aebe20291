#include "lab/nic_wiring.hpp"

#include <fmt/format.h>

#include "client/agent_client.hpp"
#include "proto/protocol.hpp"

namespace provium::lab {

using proto::Value;

void prepare_nics(Session& s, const VmPtr& vm, vmm::BootRequest& req) {
  req.nics.clear();
  auto bridges = s.network.bridges_of(vm.get());
  if (bridges.empty()) return;
  const auto& ns = s.network.ns();
  int i = 0;
  for (auto& b : bridges) {
    auto* m = b->member(vm.get());
    vmm::NicSpec nic;
    nic.id = fmt::format("nic{}", i++);
    nic.mac = m->mac;
    if (s.is_local())
      b->realise_for_sandbox(ns, *m);
    else
      nic.tap_fd = b->realise_for_qemu(ns, *m);
    req.nics.push_back(std::move(nic));
  }
}

void configure_guest_nics(Session& s, const VmPtr& vm) {
  auto bridges = s.network.bridges_of(vm.get());
  if (bridges.empty() || !vm->machine()) return;
  bool local = s.is_local();
  std::string script = "set -e\n";
  int i = 0;
  for (auto& b : bridges) {
    auto* m = b->member(vm.get());
    std::string dev = fmt::format("eth{}", i++);
    if (local) {
      // The guest TAP moves from the file's namespace into the sandbox's (the pump keeps its
      // descriptor), then gets its guest name.
      s.network.ns().check(
          {"ip", "link", "set", m->guest_tap, "netns", std::to_string(vm->machine()->netns_pid())},
          "", fmt::format("vm `{}`: bridge `{}`", vm->name(), b->name()));
      script += fmt::format("ip link set {} name {}\n", m->guest_tap, dev);
    } else {
      // QEMU names NICs in PCI order; find ours by its MAC to be sure.
      script += fmt::format(
          "dev=\nfor d in /sys/class/net/*; do [ \"$(cat $d/address)\" = \"{0}\" ] && "
          "dev=${{d##*/}}; "
          "done\n[ -n \"$dev\" ] || {{ echo \"no NIC with MAC {0}\" >&2; exit 1; }}\n"
          "[ \"$dev\" = {1} ] || ip link set \"$dev\" name {1}\n",
          m->mac, dev);
    }
    script += fmt::format("ip link set {} up\n", dev);
    if (!m->address.empty()) script += fmt::format("ip addr add {}/24 dev {}\n", m->address, dev);
  }
  proto::Map args;
  args["cmd"] = Value{"/bin/sh"};
  args["args"] = Value{proto::Array{Value{"-c"}, Value{script}}};
  Value ok;
  auto reply = vm->machine()->agent()->call("exec", Value{std::move(args)});
  if (auto e = client::op_error(reply.payload, "vm:boot: NICs", &ok)) throw Error(*e);
  auto& status = proto::field(ok, "status");
  auto* kind = proto::field(status, "kind").as_string();
  auto* code = proto::field(status, "value").as_int();
  if (!kind || *kind != "exited" || !code || *code != 0) {
    std::string err = proto::bytes_field(ok, "stderr");
    while (!err.empty() && err.back() == '\n') err.pop_back();
    for (auto& c : err)
      if (c == '\n') c = ' ';
    throw Error(fmt::format(
        "vm `{}`: configuring its NICs in the guest failed: {} (the guest needs `ip` and `sh`)",
        vm->name(), err.empty() ? "no error text" : err));
  }
}

void rewire_sandbox_nics(Session& s, const VmPtr& vm) {
  if (!s.is_local() || s.network.bridges_of(vm.get()).empty()) return;
  // The old sandbox's network namespace took its TAPs with it; the ports and pumps that fed
  // them go too, and the VM gets new ones exactly as at boot (same MACs and addresses).
  for (auto& b : s.network.bridges_of(vm.get())) b->member(vm.get())->pump.reset();
  vmm::BootRequest req;
  prepare_nics(s, vm, req);
  configure_guest_nics(s, vm);
}

}  // namespace provium::lab
