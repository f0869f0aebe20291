// Starting VMs as the Lua API's vm:boot, lab:boot, vm:restore and vm:reset do (REFERENCE §5.2,
// §5.3, §10.2): charge the pool, wire NICs, boot, give NICs their addresses, report.
#pragma once

#include <string>
#include <vector>

#include "lab/session.hpp"

namespace provium::lab {

/// Boots `vms` (every one must allow booting) with their requests: one pool charge for all,
/// NICs wired, every boot started at once (QEMU boots on helper threads; local sandboxes fork
/// from the calling thread, whose end would fire their parent-death signal), then NICs
/// configured and `vm_spawned` emitted. When one fails, every VM of the call that started is
/// shut down again and the others return their charge; throws Error: "vm `x`: <why>", or the
/// NIC configuration's own text.
void boot_vms(Session& s, const std::vector<VmPtr>& vms, std::vector<vmm::BootRequest> reqs);

/// Replaces whatever `vm` runs with the guest saved at `path` (charged, the same NICs
/// re-attached so the guest keeps its addresses) and emits `vm_spawned`. Throws Error.
void restore_vm(Session& s, const VmPtr& vm, vmm::BootRequest req, const std::string& path);

/// Warm reset; a local sandbox's NICs are rewired (its network namespace is new).
void reset_vm(Session& s, const VmPtr& vm);

}  // namespace provium::lab
