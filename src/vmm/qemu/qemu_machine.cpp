#include "vmm/qemu/qemu_machine.hpp"

#include <fmt/format.h>
#include <linux/vm_sockets.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "proto/protocol.hpp"
#include "vmm/spawner.hpp"

namespace provium::vmm::qemu {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string file_tail(const std::string& path, std::size_t bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return {};
  auto size = static_cast<std::size_t>(in.tellg());
  std::size_t start = size > bytes ? size - bytes : 0;
  in.seekg(static_cast<std::streamoff>(start));
  std::string s(size - start, '\0');
  in.read(s.data(), static_cast<std::streamsize>(s.size()));
  if (start > 0)
    if (auto nl = s.find('\n'); nl != std::string::npos && nl + 1 < s.size()) s.erase(0, nl + 1);
  return s;
}

QemuMachine::QemuMachine(pid_t pid, LaunchSpec spec) : pid_(pid), spec_(std::move(spec)) {}

QemuMachine::~QemuMachine() { shutdown(); }

bool QemuMachine::qemu_running() {
  if (pid_ <= 0) return false;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    exit_status_ = st;
    pid_ = -1;
    return false;
  }
  return true;
}

std::string QemuMachine::qemu_stderr_tail() {
  std::string s = file_tail(spec_.scratch + "/qemu.stderr", 2048);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string QemuMachine::console_tail(std::size_t bytes) { return file_tail(spec_.scratch + "/console.log", bytes); }

void QemuMachine::fail(const std::string& why) {
  std::string msg = why;
  bool exited = !qemu_running();
  if (exited && exit_status_ >= 0) {
    msg += WIFSIGNALED(exit_status_) ? fmt::format(" (QEMU killed by signal {})", WTERMSIG(exit_status_))
                                     : fmt::format(" (QEMU exited with status {})", WEXITSTATUS(exit_status_));
  }
  std::string err = qemu_stderr_tail();
  if (!err.empty()) msg += "\n--- qemu stderr ---\n" + err;
  std::string console = console_tail(4096);
  msg += console.empty() ? "\n--- console: (empty) ---" : "\n--- console (last 4 KiB) ---\n" + console;
  shutdown();
  throw std::runtime_error(msg);
}

int QemuMachine::connect_agent_socket(Qmp::Clock::time_point deadline) {
  while (true) {
    int fd;
    if (spec_.transport == Transport::Vsock) {
      fd = ::socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_vm a{};
      a.svm_family = AF_VSOCK;
      a.svm_cid = spec_.cid;
      a.svm_port = proto::kDefaultVsockPort;
      if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return fd;
    } else {
      fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::string path = spec_.scratch + "/agent.sock";
      std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
      if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return fd;
    }
    if (fd >= 0) ::close(fd);
    if (!qemu_running()) fail("QEMU exited before the agent could be reached");
    if (Qmp::Clock::now() >= deadline) fail("the agent socket never accepted a connection");
    std::this_thread::sleep_for(std::chrono::milliseconds(spec_.transport == Transport::Vsock ? 50 : 20));
  }
}

void QemuMachine::start(double timeout_s) {
  auto t0 = Qmp::Clock::now();
  auto deadline = t0 + std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000));
  try {
    qmp_.connect(spec_.scratch + "/qmp.sock", std::min(deadline, t0 + 8s), [this] { return qemu_running(); });
    qmp_.execute("migrate-set-capabilities",
                 {{"capabilities", Qmp::Json::array({{{"capability", "events"}, {"state", true}}})}});
  } catch (const QmpError& e) {
    fail(fmt::format("cannot talk to QEMU: {}", e.what()));
  }
  std::uint64_t mark = qmp_.mark();
  int fd = connect_agent_socket(deadline);
  if (spec_.transport == Transport::VirtioSerial) {
    // Bytes sent before the guest opens its end of the port may be dropped, so the handshake
    // waits for QEMU to report the agent's open (no sleeping, no retry storms).
    try {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Qmp::Clock::now());
      qmp_.wait_event("VSERPORT_CHANGE", mark, std::max(left, 1ms), [](const Qmp::Json& e) {
        auto& d = e["data"];
        return d.value("id", "") == "pvport0" && d.value("open", false);
      });
    } catch (const QmpError& e) {
      ::close(fd);
      fail(fmt::format("the agent did not start within {:.1f} s ({})", timeout_s, e.what()));
    }
  }
  agent_ = std::make_shared<client::AgentClient>(fd);
  try {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Qmp::Clock::now());
    agent_->handshake(std::max(left, 1000ms));
  } catch (const std::exception& e) {
    agent_.reset();
    fail(fmt::format("agent handshake failed: {}", e.what()));
  }
}

void QemuMachine::pause() {
  try {
    qmp_.execute("stop");
  } catch (const QmpError& e) {
    throw std::runtime_error(fmt::format("pause: {}", e.what()));
  }
}

void QemuMachine::resume() {
  try {
    qmp_.execute("cont");
  } catch (const QmpError& e) {
    throw std::runtime_error(fmt::format("resume: {}", e.what()));
  }
}

void QemuMachine::shutdown() {
  if (stopped_) return;
  stopped_ = true;
  if (agent_) agent_->shutdown();
  agent_.reset();
  if (qemu_running()) {
    try {
      if (qmp_.connected()) qmp_.execute("quit", {}, 2s);
    } catch (const QmpError&) {
    }
    auto until = Qmp::Clock::now() + 2s;
    while (qemu_running() && Qmp::Clock::now() < until) std::this_thread::sleep_for(10ms);
    if (pid_ > 0) {
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);
      int st;
      while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
      pid_ = -1;
    }
  }
  qmp_.close();
  std::error_code ec;
  fs::remove_all(spec_.scratch, ec);
  janitor_forget(spec_.scratch);
}

}  // namespace provium::vmm::qemu
