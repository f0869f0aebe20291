// Pure assembly of what QEMU is started with: the kernel command line (REFERENCE §7.3) and the
// QEMU argv (§7.2). No I/O here, so the unit tests pin both exactly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vmm/backend.hpp"

namespace provium::vmm::qemu {

enum class Accel { Kvm, Tcg };
enum class Transport { Vsock, VirtioSerial };

const char* transport_name(Transport t);

struct CmdlineParts {
  std::string file_contents;               // cmdline_file, "" when none
  std::string inline_cmdline;              // profile `cmdline`
  std::optional<std::string> replacement;  // boot opt kernel_cmdline
  std::optional<std::string> append;       // boot opt kernel_cmdline_append
  bool inject_agent = true;
  Transport transport = Transport::VirtioSerial;
};

/// The assembled command line, or throws std::runtime_error when an existing `rdinit=` names
/// another program while the agent is injected.
std::string assemble_cmdline(const CmdlineParts& p);

struct DriveSpec {
  std::string id, file;
  bool readonly = false;
  std::uint64_t scratch_bytes = 0;  // > 0: a blank file of this size in the scratch dir
  std::string backing;              // set: `file` is a qcow2 overlay in the scratch dir over it
};

struct LaunchSpec {
  std::string qemu = "qemu-system-x86_64";
  Accel accel = Accel::Tcg;
  std::uint64_t memory_mib = 512;
  std::uint32_t cpus = 1;
  std::string kernel, initrd, cmdline;
  std::string scratch;  // sockets and logs live here
  bool ksm_merge = true;
  Transport transport = Transport::VirtioSerial;
  std::uint32_t cid = 0;
  std::optional<std::int64_t> initial_time;  // epoch seconds (UTC)
  std::optional<std::uint64_t> rng_seed;
  bool incoming = false;          // restore: -incoming defer
  std::vector<DriveSpec> drives;  // profile disks first, then boot disks
  std::vector<NicSpec> nics;      // lab bridges, in guest order
};

std::vector<std::string> qemu_argv(const LaunchSpec& s);

/// `YYYY-MM-DDTHH:MM:SS` in UTC, as `-rtc base=` takes it.
std::string rtc_base(std::int64_t epoch_seconds);

}  // namespace provium::vmm::qemu
