// A VM as the Lua API sees it: name, profile, sizing, and the lifecycle state machine
// (REFERENCE §5.3). Which operations each state allows is one table (vm.cpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "events/meta_value.hpp"
#include "scheduler/account.hpp"
#include "vmm/backend.hpp"

namespace provium::lab {

enum class VmState { Created, Booted, Paused, Shutdown, Dead };
const char* to_string(VmState s);

/// Operation classes of the state table.
enum class VmOp { Boot, GuestOp, Pause, Resume, Reset, PowerButton, Snapshot };

class Vm {
 public:
  Vm(std::string name, std::string profile, std::string lab, std::uint64_t memory,
     std::uint32_t cpus, events::MetaMap create_opts)
      : name_(std::move(name)),
        profile_(std::move(profile)),
        lab_(std::move(lab)),
        memory_(memory),
        cpus_(cpus),
        create_opts_(std::move(create_opts)) {}

  const std::string& name() const { return name_; }
  const std::string& profile() const { return profile_; }
  const std::string& lab() const { return lab_; }
  VmState state() const { return state_; }
  std::uint64_t memory() const { return memory_; }
  std::uint32_t cpus() const { return cpus_; }
  const events::MetaMap& create_opts() const { return create_opts_; }
  std::optional<std::uint32_t> cid() const;

  /// nullopt when `op` is allowed in the current state, else the refusal text.
  std::optional<std::string> refusal(VmOp op) const;

  /// Boots through `backend` (state must allow it). Throws std::runtime_error.
  void boot(vmm::Backend* backend, vmm::BootRequest req);
  /// Idempotent; returns the uptime when a running guest was stopped.
  std::optional<std::chrono::nanoseconds> shutdown();
  void pause();
  void resume();
  /// Saves the running guest to `path` (booted or paused; ends in the same state).
  void snapshot(const std::string& path);
  /// Replaces whatever runs (or ran) with the guest saved at `path`; ends booted.
  void restore(vmm::Backend* backend, vmm::BootRequest req, const std::string& path);
  void reset();
  /// Presses the ACPI power button and waits for the guest to power off; ends shutdown.
  std::optional<std::chrono::nanoseconds> power_button();
  void wakeup();
  /// The running machine (nullptr unless booted or paused).
  vmm::Machine* machine() const { return machine_.get(); }
  /// Marks the VM dead (transport lost): every later operation fails with the cause.
  void mark_dead(std::string cause);

  /// The pool charge this VM holds while it runs (REFERENCE §10.2); returned at shutdown.
  void hold(scheduler::Reservation r) { reservation_ = std::move(r); }
  bool charged() const { return static_cast<bool>(reservation_); }
  /// Returns the charge of a VM whose boot was abandoned before it started (stays Created).
  void drop_charge() { reservation_.release(); }

 private:
  std::string name_, profile_, lab_;
  std::uint64_t memory_;
  std::uint32_t cpus_;
  events::MetaMap create_opts_;
  VmState state_ = VmState::Created;
  std::string dead_cause_;
  std::unique_ptr<vmm::Machine> machine_;
  scheduler::Reservation reservation_;  // after machine_: released only once it is gone
  std::chrono::steady_clock::time_point booted_at_{};
};

}  // namespace provium::lab
