// What the agent does when it is the guest's init (REFERENCE §6.1): mounts, kernel modules,
// the transport endpoint, chain mode beside a user /init, power-off.
#pragma once

#include <string>
#include <vector>

namespace provium::agent {

/// Mounts devtmpfs /dev, /dev/pts, proc, sysfs, tmpfs /tmp and /run (creating mount points,
/// ignoring EBUSY).
void mount_basics();
/// Loads `names` and their dependencies from /lib/modules/$(uname -r) with finit_module;
/// already loaded or built in counts as success. Returns one line per failure.
std::vector<std::string> load_modules(const std::vector<std::string>& names);
/// `provium.transport=` from /proc/cmdline ("virtio-serial" when absent).
std::string cmdline_transport();
/// Opens the virtio-serial port named org.provium.agent.0, waiting up to 5 s. -1 on failure.
int open_virtio_port();
/// Listens on vsock port `port`; returns the listening fd or -1.
int listen_vsock(int port);
/// The modules the image lists in /etc/provium/modules (one name per line), if any.
std::vector<std::string> image_modules();
/// Standalone PID 1: a thread that powers off when an input device reports KEY_POWER (the
/// ACPI power button QEMU's system_powerdown presses).
void watch_power_button();
/// sync, then power off (PID 1 only).
[[noreturn]] void power_off();

}  // namespace provium::agent
