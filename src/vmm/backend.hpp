// The seam between the Lua objects and the machines behind them. A backend (QEMU, local)
// turns a boot request into a running Machine; the Lab/Vm objects never know which one it is.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "client/agent_client.hpp"
#include "config/config.hpp"
#include "events/meta_value.hpp"

namespace provium::vmm {

/// Everything a backend needs to start one guest: the profile and the merged creation + boot
/// options (boot-time values override creation-time ones per field, REFERENCE §5.2).
/// One guest NIC on a lab bridge (REFERENCE §9): QEMU gets a stream socket to the NIC's pump
/// (`-netdev socket,fd=`); the local backend gets nothing here (its TAP moves in after boot).
struct NicSpec {
  std::string id;   // netdev id, "nic0", "nic1", ... in guest order (eth0, eth1, ...)
  std::string mac;
  int tap_fd = -1;  // QEMU's end of the pump socket, owned by the bridge; inherited as is
};

struct BootRequest {
  std::string file;      // test file (root-relative), for names and events
  std::string lab;       // owning lab name
  std::string vm_name;
  const config::Profile* profile = nullptr;
  std::uint64_t memory_bytes = 512ull << 20;
  std::uint32_t cpus = 1;
  events::MetaMap options;  // every other key, as given (kernel_cmdline, files, disks, ...)
  std::optional<double> agent_timeout;  // seconds: boot opt, else profile, else backend default
  std::vector<NicSpec> nics;            // the VM's bridges, sorted by bridge name
};

/// A running guest. Destruction must stop it and release every host resource.
class Machine {
 public:
  virtual ~Machine() = default;
  virtual std::uint32_t cid() const = 0;
  virtual void shutdown() = 0;
  /// The persistent agent connection (valid while the machine runs).
  virtual std::shared_ptr<client::AgentClient> agent() = 0;
  /// Freeze / thaw every guest process. Backends that cannot throw std::runtime_error.
  virtual void pause() = 0;
  virtual void resume() = 0;
  /// Tail of the console log ("" when the backend has no console).
  virtual std::string console_tail(std::size_t bytes) { (void)bytes; return {}; }
  /// Where the console log and socket are ("" when the backend has none).
  virtual std::string console_log_path() const { return {}; }
  virtual std::string console_socket_path() const { return {}; }
  /// A process whose network namespace is the guest's (local backend), else -1.
  virtual int netns_pid() const { return -1; }
  /// True when the guest's wall clock is the host's (local sandboxes): setting it is refused.
  virtual bool shares_host_clock() const { return false; }
  /// Link state of NIC `id` as the guest sees it (QMP set_link). Default: unsupported.
  virtual void set_nic_link(const std::string& id, bool up) {
    (void)id;
    (void)up;
  }

  // Operations that need a kernel of the machine's own. The defaults refuse with the
  // documented text `<op>: not supported by the <backend> backend`.
  virtual const char* backend_name() const = 0;
  /// Saves the guest's memory and device state to `path`; the VM ends in its prior state.
  virtual void snapshot(const std::string& /*path*/) { unsupported("snapshot"); }
  /// Warm reboot; returns once the agent answers again.
  virtual void reset() { unsupported("reset"); }
  /// ACPI power button; returns once the guest has powered off (or throws on timeout).
  virtual void power_button() { unsupported("power_button"); }
  virtual void wakeup() { unsupported("wakeup"); }

 protected:
  [[noreturn]] void unsupported(const char* op) const {
    throw std::runtime_error(std::string(op) + ": not supported by the " + backend_name() + " backend");
  }
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  /// Boots and waits for the agent handshake. Throws std::runtime_error with a one-line message.
  virtual std::unique_ptr<Machine> boot(const BootRequest& req) = 0;
  /// Starts a machine from a snapshot written by Machine::snapshot (same device model, fresh
  /// CID); `req` names the VM and carries boot options such as initial_time / rng_seed.
  virtual std::unique_ptr<Machine> restore(const BootRequest& req, const std::string& path) {
    (void)req;
    (void)path;
    throw std::runtime_error(std::string("restore: not supported by the ") + name() + " backend");
  }
  /// Handshake deadline when neither the boot options nor the profile set one.
  virtual double default_agent_timeout() const { return 30.0; }
  /// What besides the profile decides the snapshots this backend takes (VMM version, machine
  /// type, accelerator, CPU model, transport), for fixture keys. "" when it takes none.
  virtual std::string snapshot_identity() { return {}; }
  /// The agent overlay a boot of `p` injects ("" when none or not found).
  virtual std::string agent_overlay(const config::Profile& p) {
    (void)p;
    return {};
  }
};

/// Host-wide VMM choices from the command line (--accel, --transport, --no-ksm).
struct BackendSettings {
  std::string accel = "auto";      // auto | kvm | tcg
  std::string transport = "auto";  // auto | vsock | virtio-serial
  bool ksm = true;
};

/// The backend selected by --vmm, or nullptr when this build has none for that choice.
Backend* backend_for(const std::string& vmm_choice, const BackendSettings& settings = {});

}  // namespace provium::vmm
