// What this host offers QEMU: a usable /dev/kvm, a usable /dev/vhost-vsock. Probed once.
#pragma once

#include <string>

#include "vmm/qemu/command_line.hpp"

namespace provium::vmm::qemu {

struct DeviceProbe {
  bool usable = false;
  std::string reason;  // why not, e.g. "No such file or directory"
};

/// Opens `path` read-write and closes it again.
DeviceProbe probe_device(const char* path);

/// The accelerator for `choice` (auto|kvm|tcg); throws std::runtime_error with the fix when
/// kvm is required and unusable. Under auto without KVM prints the TCG warning once.
Accel choose_accel(const std::string& choice);
/// The transport for `choice` (auto|vsock|virtio-serial); throws when vsock is required and
/// unusable.
Transport choose_transport(const std::string& choice);

}  // namespace provium::vmm::qemu
