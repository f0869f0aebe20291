// What the lab domain needs from the test file it runs in: configuration, backend, the file's
// root lab and network, the resource pool, the event bus and, while a fixture builds, where it
// stages snapshots and records its inputs. Plain data; the Lua layer's FileContext extends it
// with what only the bindings use.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "events/bus.hpp"
#include "lab/lab.hpp"
#include "net/file_network.hpp"
#include "scheduler/account.hpp"
#include "util/error.hpp"
#include "vmm/backend.hpp"

namespace provium::fixture {
class Service;
}

namespace provium::lab {

using VmPtr = std::shared_ptr<Vm>;
using LabPtr = std::shared_ptr<Lab>;

struct Session {
  const config::Config* config = nullptr;
  vmm::Backend* backend = nullptr;
  std::string file;  // the test file as reported (display path)
  LabPtr root_lab;
  net::FileNetwork network;  // the file's network namespace and bridges (made on first use)
  std::shared_ptr<scheduler::Account> account;  // null: no pool (REPL, fixture build, list)
  events::Bus* bus = nullptr;                   // may be null (no sinks)

  // While a fixture builds (REFERENCE §8).
  fixture::Service* fixtures = nullptr;  // null: this run has no fixture cache
  std::string snapshot_dir;              // where snapshots are staged
  nlohmann::json* recorded = nullptr;    // inputs the build used

  bool is_local() const { return backend && std::string(backend->name()) == "local"; }
  /// Where snapshots without a path of their own go: the fixture's staging directory while
  /// one builds, else $TMPDIR (or /tmp).
  std::string scratch_base() const;
};

/// The request that boots (or restores) `vm` with `memory` bytes (floored to MiB, at least
/// 1 MiB) and `cpus`, from its creation options merged with `boot_opts` (boot options win).
/// Throws Error naming the bad key (cpus 0, a non-positive agent_timeout).
vmm::BootRequest boot_request(const Session& s, const Vm& vm, std::uint64_t memory,
                              std::uint32_t cpus, const events::MetaMap& boot_opts);

/// Charges the pool (or the file's claim) for those of `vms` that hold no charge yet, in one
/// request (`verb`: "booting", "restoring"); each VM then holds its own share until it shuts
/// down. Throws with the reason (exceeds the pool, deadlock, beyond the claim, interrupted).
/// No-op without a pool.
void charge_vms(Session& s, const std::vector<VmPtr>& vms,
                const std::vector<vmm::BootRequest>& reqs, const std::string& verb);

/// Emits `vm_spawned` for a VM that just booted or was restored.
void emit_vm_spawned(Session& s, const Vm& vm, std::uint64_t memory);
/// Shuts a VM down and emits `vm_shutdown` with its real uptime when it was running.
void shutdown_and_report(Session& s, Vm& vm);
/// Presses the ACPI power button, waits for the guest to power off, emits `vm_shutdown`.
void power_off(Session& s, Vm& vm);
/// Shuts down every VM of `lab` and its sub-labs (emitting vm_shutdown).
void shutdown_tree(Session& s, Lab& lab);
/// During a fixture build, records that `profile` was booted (its digest joins the manifest).
void record_profile(Session& s, const std::string& profile);

}  // namespace provium::lab
