// One running QEMU guest: the process, its QMP monitor, its agent connection and its scratch
// directory (sockets, console log, QEMU's stderr). Destruction stops QEMU and removes the
// scratch directory.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "vmm/backend.hpp"
#include "vmm/qemu/command_line.hpp"
#include "vmm/qemu/qmp.hpp"

namespace provium::vmm::qemu {

class QemuMachine : public Machine {
 public:
  /// Takes over a started QEMU (`pid`) whose scratch directory is `spec.scratch`.
  QemuMachine(pid_t pid, LaunchSpec spec);
  ~QemuMachine() override;

  /// Connects QMP, then the agent, and completes the handshake before `timeout_s`. Throws
  /// std::runtime_error with QEMU's stderr and the console tail when the guest never answers.
  /// With `snapshot`, QEMU was started with -incoming defer and is fed that snapshot first.
  void start(double timeout_s, const std::string& snapshot = {});

  std::uint32_t cid() const override { return spec_.cid; }
  void shutdown() override;
  std::shared_ptr<client::AgentClient> agent() override { return agent_; }
  void pause() override;
  void resume() override;
  std::string console_tail(std::size_t bytes) override;
  std::string console_log_path() const override { return spec_.scratch + "/console.log"; }
  std::string console_socket_path() const override { return spec_.scratch + "/console.sock"; }
  void set_nic_link(const std::string& id, bool up) override {
    qmp_.execute("set_link", {{"name", id}, {"up", up}});
  }
  const char* backend_name() const override { return "qemu"; }
  void snapshot(const std::string& path) override;
  void reset() override;
  void power_button() override;
  void wakeup() override;

  /// The device model a restore must recreate (recorded in every snapshot).
  nlohmann::json device_model() const;

  /// True while the QEMU process has not exited (reaps it when it has).
  bool qemu_running();
  const std::string& scratch() const { return spec_.scratch; }

 private:
  int connect_agent_socket(Qmp::Clock::time_point deadline);
  void load_snapshot(const std::string& path, Qmp::Clock::time_point deadline);
  void zero_free_guest_memory();
  void handshake(int fd, Qmp::Clock::time_point deadline, bool restored);
  [[noreturn]] void fail(const std::string& why);
  std::string qemu_stderr_tail();

  pid_t pid_;
  int exit_status_ = -1;
  LaunchSpec spec_;
  Qmp qmp_;
  std::shared_ptr<client::AgentClient> agent_;
  bool stopped_ = false;
};

/// The LaunchSpec recorded by device_model(); scratch, cid and initrd are the caller's.
LaunchSpec spec_from_model(const nlohmann::json& model);

/// Last `bytes` of a file ("" when unreadable), starting at a line boundary when possible.
std::string file_tail(const std::string& path, std::size_t bytes);

}  // namespace provium::vmm::qemu
