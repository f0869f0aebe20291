// Wiring a VM's NICs (REFERENCE §9.1): before QEMU starts, every bridge the VM is attached to
// is realised in the file's namespace with one port and pump for the VM (QEMU gets a stream
// socket to the pump, a local sandbox a TAP that moves into its namespace); after the agent
// answers, each NIC gets its address from inside the guest, so tests never configure
// networking by hand.
#pragma once

#include "lab/session.hpp"

namespace provium::lab {

/// Before a boot or restore: realises the VM's bridges and ports and fills `req.nics`.
void prepare_nics(Session& s, const VmPtr& vm, vmm::BootRequest& req);
/// After a cold boot: moves local TAPs into the sandbox and gives every NIC its address
/// (through the agent). Throws Error with the guest's own error text.
void configure_guest_nics(Session& s, const VmPtr& vm);
/// After a local sandbox was reset (its network namespace is new): new ports and TAPs for
/// each of the VM's bridges, configured as at boot. Nothing for QEMU guests, whose NICs
/// outlive a reset.
void rewire_sandbox_nics(Session& s, const VmPtr& vm);

}  // namespace provium::lab
