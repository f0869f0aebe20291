// The QEMU backend (REFERENCE §7): boots a profile's kernel and initramfs (with the agent
// overlay appended) under KVM when /dev/kvm is usable and TCG otherwise, talks QMP for the
// lifecycle and the agent protocol over virtio-serial (or vsock when /dev/vhost-vsock is
// usable). Readiness is the agent handshake; a boot that never reaches it fails with the tail
// of the console.
#pragma once

#include "vmm/backend.hpp"

namespace provium::vmm::qemu {

/// The process-wide QEMU backend; `settings` apply from the first call on.
Backend& backend(const BackendSettings& settings);

}  // namespace provium::vmm::qemu
