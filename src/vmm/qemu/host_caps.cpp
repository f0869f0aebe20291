#include "vmm/qemu/host_caps.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <stdexcept>

namespace provium::vmm::qemu {

DeviceProbe probe_device(const char* path) {
  int fd = ::open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return {false, std::strerror(errno)};
  ::close(fd);
  return {true, {}};
}

namespace {

// /dev/kvm opening is not enough: a nested host may offer kvm-pvm, which opens fine but only
// runs guest kernels built for PVM (a stock kernel hangs in early boot). Hardware KVM is
// kvm_intel or kvm_amd.
DeviceProbe probe_kvm() {
  DeviceProbe p = probe_device("/dev/kvm");
  if (!p.usable) return p;
  if (::access("/sys/module/kvm_intel", F_OK) == 0 || ::access("/sys/module/kvm_amd", F_OK) == 0)
    return p;
  if (::access("/sys/module/kvm_pvm", F_OK) == 0)
    return {false, "it is kvm-pvm, which boots only PVM-enabled guest kernels"};
  return {false, "neither kvm_intel nor kvm_amd is loaded"};
}

}  // namespace

Accel choose_accel(const std::string& choice) {
  if (choice == "tcg") return Accel::Tcg;
  static DeviceProbe kvm = probe_kvm();
  if (kvm.usable) return Accel::Kvm;
  if (choice == "kvm")
    throw std::runtime_error(fmt::format(
        "--accel kvm: /dev/kvm not usable ({}); load the module (modprobe kvm-intel or kvm-amd) "
        "or join the kvm group, or use --accel auto",
        kvm.reason));
  static std::once_flag warned;
  std::call_once(warned, [] {
    std::fprintf(stderr, "provium: warning: /dev/kvm not usable (%s); using TCG emulation (slow)\n",
                 kvm.reason.c_str());
  });
  return Accel::Tcg;
}

Transport choose_transport(const std::string& choice) {
  if (choice == "virtio-serial") return Transport::VirtioSerial;
  static DeviceProbe vsock = probe_device("/dev/vhost-vsock");
  if (vsock.usable) return Transport::Vsock;
  if (choice == "vsock")
    throw std::runtime_error(fmt::format(
        "--transport vsock: /dev/vhost-vsock not usable ({}); modprobe vhost_vsock, or use "
        "--transport auto",
        vsock.reason));
  static std::once_flag noted;
  std::call_once(noted, [] {
    std::fprintf(
        stderr, "provium: notice: /dev/vhost-vsock not usable (%s); the agent uses virtio-serial\n",
        vsock.reason.c_str());
  });
  return Transport::VirtioSerial;
}

}  // namespace provium::vmm::qemu
