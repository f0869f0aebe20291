// `--vmm local` (REFERENCE §7.9): no kernel boots. Each VM is provium-agent running as a host
// child process inside its own mount, pid, uts, ipc and net namespaces, over a copy-on-write
// view of the host root (overlayfs, upper layer in the VM's scratch directory), reached over a
// socketpair. A test that writes, deletes or runs anything does not touch the host. When
// namespaces or overlayfs are unavailable the backend refuses to start a VM.
#pragma once

#include "vmm/backend.hpp"

namespace provium::vmm::local {

Backend& backend();

}  // namespace provium::vmm::local
