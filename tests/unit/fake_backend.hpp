// A scriptable in-memory vmm::Backend for unit tests of the lab domain: no VMM, no agent, no
// network. Boots and restores hand out FakeMachines; a snapshot writes a small file holding the
// VM's name, and a restore reads it back. Tests make a chosen VM's boot, pause, snapshot or
// restore fail by name. Boots run on std::async threads (the backend is not "local"), so every
// piece of shared state is guarded.
#pragma once

#include <atomic>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "vmm/backend.hpp"

namespace provium::unit {

/// What happened to one machine, kept by the backend after the machine itself is gone.
struct FakeMachineLog {
  std::string vm_name;
  std::uint32_t cid = 0;
  bool from_restore = false;
  std::string restored_from;  // the snapshot path of a restore
  std::atomic<int> pauses{0}, resumes{0}, snapshots{0}, shutdowns{0};
  std::atomic<bool> paused{false};
  std::atomic<bool> destroyed{false};
};

class FakeBackend;

class FakeMachine : public vmm::Machine {
 public:
  FakeMachine(FakeBackend& backend, std::shared_ptr<FakeMachineLog> log)
      : backend_(backend), log_(std::move(log)) {}
  ~FakeMachine() override { log_->destroyed = true; }

  std::uint32_t cid() const override { return log_->cid; }
  void shutdown() override { ++log_->shutdowns; }
  std::shared_ptr<client::AgentClient> agent() override { return nullptr; }
  void pause() override;
  void resume() override {
    ++log_->resumes;
    log_->paused = false;
  }
  const char* backend_name() const override { return "fake"; }
  void snapshot(const std::string& path) override;

 private:
  FakeBackend& backend_;
  std::shared_ptr<FakeMachineLog> log_;
};

class FakeBackend : public vmm::Backend {
 public:
  const char* name() const override { return "fake"; }

  std::unique_ptr<vmm::Machine> boot(const vmm::BootRequest& req) override {
    std::shared_ptr<FakeMachineLog> log;
    {
      std::lock_guard lk(mu_);
      requests_.push_back(req);
      if (fail_boot_.count(req.vm_name)) throw std::runtime_error("fake boot failure");
      log = new_log(req.vm_name);
    }
    return std::make_unique<FakeMachine>(*this, std::move(log));
  }

  std::unique_ptr<vmm::Machine> restore(const vmm::BootRequest& req,
                                        const std::string& path) override {
    std::string content;
    {
      std::ifstream in(path, std::ios::binary);
      if (!in) throw std::runtime_error("fake restore: cannot read " + path);
      content.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    std::shared_ptr<FakeMachineLog> log;
    {
      std::lock_guard lk(mu_);
      requests_.push_back(req);
      if (fail_restore_.count(req.vm_name)) throw std::runtime_error("fake restore failure");
      // The file must be the one this VM's machine saved.
      if (content != req.vm_name)
        throw std::runtime_error("fake restore: " + path + " holds `" + content + "`, not `" +
                                 req.vm_name + "`");
      log = new_log(req.vm_name);
      log->from_restore = true;
      log->restored_from = path;
    }
    return std::make_unique<FakeMachine>(*this, std::move(log));
  }

  // Failure injection, by VM name (the leaf name, as in BootRequest::vm_name).
  void fail_boot(const std::string& vm) {
    std::lock_guard lk(mu_);
    fail_boot_.insert(vm);
  }
  void fail_pause(const std::string& vm) {
    std::lock_guard lk(mu_);
    fail_pause_.insert(vm);
  }
  void fail_snapshot(const std::string& vm) {
    std::lock_guard lk(mu_);
    fail_snapshot_.insert(vm);
  }
  void fail_restore(const std::string& vm) {
    std::lock_guard lk(mu_);
    fail_restore_.insert(vm);
  }
  void clear_failures() {
    std::lock_guard lk(mu_);
    fail_boot_.clear();
    fail_pause_.clear();
    fail_snapshot_.clear();
    fail_restore_.clear();
  }

  /// Every machine ever made for `vm`, oldest first.
  std::vector<std::shared_ptr<FakeMachineLog>> machines_of(const std::string& vm) const {
    std::lock_guard lk(mu_);
    std::vector<std::shared_ptr<FakeMachineLog>> out;
    for (auto& l : logs_)
      if (l->vm_name == vm) out.push_back(l);
    return out;
  }
  /// The newest machine of `vm` (nullptr when none was made).
  std::shared_ptr<FakeMachineLog> last_machine(const std::string& vm) const {
    auto all = machines_of(vm);
    return all.empty() ? nullptr : all.back();
  }
  std::size_t machine_count() const {
    std::lock_guard lk(mu_);
    return logs_.size();
  }
  /// Every boot and restore request seen (failed ones included), in arrival order.
  std::vector<vmm::BootRequest> requests() const {
    std::lock_guard lk(mu_);
    return requests_;
  }

 private:
  friend class FakeMachine;

  std::shared_ptr<FakeMachineLog> new_log(const std::string& vm) {  // mu_ held
    auto log = std::make_shared<FakeMachineLog>();
    log->vm_name = vm;
    log->cid = next_cid_++;
    logs_.push_back(log);
    return log;
  }
  bool fails(const std::set<std::string>& which, const std::string& vm) const {
    std::lock_guard lk(mu_);
    return which.count(vm) != 0;
  }

  mutable std::mutex mu_;
  std::set<std::string> fail_boot_, fail_pause_, fail_snapshot_, fail_restore_;
  std::vector<std::shared_ptr<FakeMachineLog>> logs_;
  std::vector<vmm::BootRequest> requests_;
  std::uint32_t next_cid_ = 3;
};

inline void FakeMachine::pause() {
  if (backend_.fails(backend_.fail_pause_, log_->vm_name))
    throw std::runtime_error("fake pause failure");
  ++log_->pauses;
  log_->paused = true;
}

inline void FakeMachine::snapshot(const std::string& path) {
  bool fail = backend_.fails(backend_.fail_snapshot_, log_->vm_name);
  // A failing save leaves a torn file behind, as a VMM killed mid-write would.
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (fail) {
    out << "torn";
    out.close();
    throw std::runtime_error("fake snapshot failure");
  }
  out << log_->vm_name;
  out.close();
  if (!out) throw std::runtime_error("fake snapshot: cannot write " + path);
  ++log_->snapshots;
}

}  // namespace provium::unit
