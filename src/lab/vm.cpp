#include "lab/vm.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace provium::lab {

const char* to_string(VmState s) {
  switch (s) {
    case VmState::Created:
      return "created";
    case VmState::Booted:
      return "booted";
    case VmState::Paused:
      return "paused";
    case VmState::Shutdown:
      return "shutdown";
    case VmState::Dead:
      return "dead";
  }
  return "?";
}

std::optional<std::uint32_t> Vm::cid() const {
  if (!machine_) return std::nullopt;
  return machine_->cid();
}

std::optional<std::string> Vm::refusal(VmOp op) const {
  // Refusals common to every operation first: a finished VM can do nothing.
  if (state_ == VmState::Shutdown) return std::string("VM is shutdown; create a new one");
  if (state_ == VmState::Dead) return fmt::format("VM is dead: {}", dead_cause_);
  switch (op) {
    case VmOp::Boot:
      if (state_ == VmState::Created) return std::nullopt;
      return std::string("VM already booted");
    case VmOp::GuestOp:
    case VmOp::Reset:
    case VmOp::PowerButton:
    case VmOp::Pause:
      if (state_ == VmState::Booted) return std::nullopt;
      if (state_ == VmState::Created) return std::string("VM not booted");
      return std::string(op == VmOp::Pause ? "VM is already paused" : "VM is paused; use resume()");
    case VmOp::Resume:
      if (state_ == VmState::Paused) return std::nullopt;
      if (state_ == VmState::Created) return std::string("VM not booted");
      return std::string("VM is not paused");
    case VmOp::Snapshot:
      if (state_ == VmState::Booted || state_ == VmState::Paused) return std::nullopt;
      return std::string("VM not booted");
  }
  return std::nullopt;
}

void Vm::boot(vmm::Backend* backend, vmm::BootRequest req) {
  if (auto r = refusal(VmOp::Boot)) throw std::runtime_error(*r);
  if (!backend)
    throw std::runtime_error("no VMM backend for this --vmm choice; use --vmm qemu or --vmm local");
  try {
    machine_ = backend->boot(req);
  } catch (...) {
    reservation_.release();
    throw;
  }
  state_ = VmState::Booted;
  booted_at_ = std::chrono::steady_clock::now();
}

void Vm::pause() {
  if (auto r = refusal(VmOp::Pause)) throw std::runtime_error(*r);
  machine_->pause();
  state_ = VmState::Paused;
}

void Vm::resume() {
  if (auto r = refusal(VmOp::Resume)) throw std::runtime_error(*r);
  machine_->resume();
  state_ = VmState::Booted;
}

void Vm::snapshot(const std::string& path) {
  if (auto r = refusal(VmOp::Snapshot)) throw std::runtime_error(*r);
  machine_->snapshot(path);
}

void Vm::restore(vmm::Backend* backend, vmm::BootRequest req, const std::string& path) {
  if (!backend)
    throw std::runtime_error("no VMM backend for this --vmm choice; use --vmm qemu or --vmm local");
  // Revert in place: the old guest goes first so the two never hold memory at once.
  if (machine_) {
    machine_->shutdown();
    machine_.reset();
  }
  try {
    machine_ = backend->restore(req, path);
  } catch (...) {
    if (state_ == VmState::Booted || state_ == VmState::Paused) state_ = VmState::Shutdown;
    reservation_.release();
    throw;
  }
  state_ = VmState::Booted;
  booted_at_ = std::chrono::steady_clock::now();
  dead_cause_.clear();
}

void Vm::reset() {
  if (auto r = refusal(VmOp::Reset)) throw std::runtime_error(*r);
  machine_->reset();
}

std::optional<std::chrono::nanoseconds> Vm::power_button() {
  if (auto r = refusal(VmOp::PowerButton)) throw std::runtime_error(*r);
  machine_->power_button();
  return shutdown();
}

void Vm::wakeup() {
  if (auto r = refusal(VmOp::GuestOp)) throw std::runtime_error(*r);
  machine_->wakeup();
}

void Vm::mark_dead(std::string cause) {
  if (state_ == VmState::Shutdown) return;
  dead_cause_ = std::move(cause);
  state_ = VmState::Dead;
}

std::optional<std::chrono::nanoseconds> Vm::shutdown() {
  std::optional<std::chrono::nanoseconds> uptime;
  if (machine_) {
    machine_->shutdown();
    machine_.reset();
    uptime = std::chrono::steady_clock::now() - booted_at_;
  }
  reservation_.release();
  if (state_ != VmState::Dead) state_ = VmState::Shutdown;
  return uptime;
}

}  // namespace provium::lab
