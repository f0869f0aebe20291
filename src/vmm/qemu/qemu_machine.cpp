#include "vmm/qemu/qemu_machine.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/vm_sockets.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <thread>

#include "proto/protocol.hpp"
#include "util/text.hpp"
#include "vmm/qemu/snapshot_file.hpp"
#include "vmm/spawner.hpp"

namespace provium::vmm::qemu {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A 64 KiB pipe between QEMU's migration stream and zstd costs a context switch per 64 KiB of
// the ~60 MB a booted 256 MiB guest streams; 1 MiB (the default pipe-max-size) lets each side run
// longer. Best effort: a smaller limit only costs speed.
void widen_pipe(int fd) { ::fcntl(fd, F_SETPIPE_SZ, 1 << 20); }

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
  std::string s = util::file_tail(spec_.scratch + "/qemu.stderr", 2048);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string QemuMachine::console_tail(std::size_t bytes) {
  return util::file_tail(spec_.scratch + "/console.log", bytes);
}

void QemuMachine::fail(const std::string& why) {
  std::string msg = why;
  bool exited = !qemu_running();
  if (exited && exit_status_ >= 0) {
    msg += WIFSIGNALED(exit_status_)
               ? fmt::format(" (QEMU killed by signal {})", WTERMSIG(exit_status_))
               : fmt::format(" (QEMU exited with status {})", WEXITSTATUS(exit_status_));
  }
  std::string err = qemu_stderr_tail();
  if (!err.empty()) msg += "\n--- qemu stderr ---\n" + err;
  std::string console = console_tail(4096);
  msg +=
      console.empty() ? "\n--- console: (empty) ---" : "\n--- console (last 4 KiB) ---\n" + console;
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
    std::this_thread::sleep_for(
        std::chrono::milliseconds(spec_.transport == Transport::Vsock ? 50 : 20));
  }
}

void QemuMachine::start(double timeout_s, const std::string& snapshot) {
  auto t0 = Qmp::Clock::now();
  auto deadline = t0 + std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000));
  try {
    qmp_.connect(spec_.scratch + "/qmp.sock", std::min(deadline, t0 + 8s),
                 [this] { return qemu_running(); });
    qmp_.execute(
        "migrate-set-capabilities",
        {{"capabilities", Qmp::Json::array({{{"capability", "events"}, {"state", true}}})}});
  } catch (const QmpError& e) {
    fail(fmt::format("cannot talk to QEMU: {}", e.what()));
  }
  if (!snapshot.empty()) load_snapshot(snapshot, deadline);
  std::uint64_t mark = qmp_.mark();
  int fd = connect_agent_socket(deadline);
  if (spec_.transport == Transport::VirtioSerial && snapshot.empty()) {
    // Bytes sent before the guest opens its end of the port may be dropped, so the handshake
    // waits for QEMU to report the agent's open (no sleeping, no retry storms). A restored
    // guest has the port open already.
    try {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Qmp::Clock::now());
      qmp_.wait_event("VSERPORT_CHANGE", mark, std::max(left, 1ms), [](const Qmp::Json& e) {
        auto& d = e["data"];
        return d.value("id", "") == "pvport0" && d.value("open", false);
      });
    } catch (const QmpError& e) {
      ::close(fd);
      // A closed monitor means QEMU is on its way out: give it a moment so the message can
      // say how it ended.
      auto until = Qmp::Clock::now() + 2s;
      while (qemu_running() && Qmp::Clock::now() < until) std::this_thread::sleep_for(10ms);
      if (!qemu_running())
        fail("QEMU exited before the agent answered (a guest panic or power-off)");
      fail(fmt::format("the agent did not start within {:.1f} s ({})", timeout_s, e.what()));
    }
  }
  handshake(fd, deadline, !snapshot.empty());
}

void QemuMachine::handshake(int fd, Qmp::Clock::time_point deadline, bool restored) {
  // A restored agent may still sit in the snapshot's connection; if it does not answer soon,
  // reconnecting makes QEMU report the host side closed and open again, which sends the
  // agent back to hunting for the marker.
  for (int attempt = 1;; ++attempt) {
    agent_ = std::make_shared<client::AgentClient>(fd);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Qmp::Clock::now());
    auto wait = restored ? std::min(left, std::chrono::milliseconds(3000 * attempt)) : left;
    try {
      agent_->handshake(std::max(wait, 1000ms));
      return;
    } catch (const std::exception& e) {
      agent_.reset();  // closes fd
      if (!restored || Qmp::Clock::now() + 1s >= deadline || !qemu_running())
        fail(fmt::format("agent handshake failed: {}", e.what()));
    }
    std::this_thread::sleep_for(100ms);
    fd = connect_agent_socket(deadline);
  }
}

void QemuMachine::load_snapshot(const std::string& path, Qmp::Clock::time_point deadline) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) fail(fmt::format("restore: pipe: {}", std::strerror(errno)));
  widen_pipe(p[1]);
  std::string feed_error;
  std::thread feeder;
  try {
    qmp_.execute_with_fd("getfd", {{"fdname", "restorefd"}}, p[0]);
    ::close(p[0]);
    p[0] = -1;
    feeder = std::thread([&, wfd = p[1]] {
      try {
        stream_snapshot(path, wfd);
      } catch (const std::exception& e) {
        feed_error = e.what();
      }
      ::close(wfd);
    });
    std::uint64_t mark = qmp_.mark();
    qmp_.execute("migrate-incoming", {{"uri", "fd:restorefd"}});
    // The MIGRATION event ends the wait the moment loading does (polling cost up to 20 ms).
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Qmp::Clock::now());
    auto ev = qmp_.wait_event("MIGRATION", mark, std::max(left, 1ms), [](const Qmp::Json& e) {
      std::string st = e["data"].value("status", "");
      return st == "completed" || st == "failed" || st == "cancelled";
    });
    if (std::string st = ev["data"].value("status", ""); st != "completed") {
      std::string status = qmp_.execute("query-status").value("status", "");
      throw QmpError(
          fmt::format("QEMU ended the restore with migration {} (state `{}`)", st, status));
    }
    feeder.join();
    if (!feed_error.empty()) throw QmpError(feed_error);
    qmp_.execute("cont");
  } catch (const std::exception& e) {
    if (p[0] >= 0) ::close(p[0]);
    if (feeder.joinable()) {
      // QEMU is killed by fail(); the feeder then sees EPIPE and ends.
      ::kill(pid_, SIGKILL);
      feeder.join();
    } else {
      ::close(p[1]);
    }
    fail(fmt::format("restore from `{}` failed: {}", path, e.what()));
  }
}

nlohmann::json QemuMachine::device_model() const {
  nlohmann::json drives = nlohmann::json::array();
  for (auto& d : spec_.drives)
    drives.push_back({{"id", d.id},
                      {"file", d.file},
                      {"readonly", d.readonly},
                      {"scratch_bytes", d.scratch_bytes},
                      {"backing", d.backing}});
  nlohmann::json m = {{"memory_mib", spec_.memory_mib},
                      {"cpus", spec_.cpus},
                      {"accel", spec_.accel == Accel::Kvm ? "kvm" : "tcg"},
                      {"transport", transport_name(spec_.transport)},
                      {"kernel", spec_.kernel},
                      {"cmdline", spec_.cmdline},
                      {"ksm_merge", spec_.ksm_merge},
                      {"drives", drives}};
  nlohmann::json nics = nlohmann::json::array();
  for (auto& n : spec_.nics) nics.push_back({{"id", n.id}, {"mac", n.mac}});
  m["nics"] = nics;
  if (spec_.initial_time) m["initial_time"] = *spec_.initial_time;
  if (spec_.rng_seed) m["rng_seed"] = *spec_.rng_seed;
  return m;
}

LaunchSpec spec_from_model(const nlohmann::json& m) {
  LaunchSpec s;
  s.memory_mib = m.at("memory_mib").get<std::uint64_t>();
  s.cpus = m.at("cpus").get<std::uint32_t>();
  s.accel = m.at("accel").get<std::string>() == "kvm" ? Accel::Kvm : Accel::Tcg;
  s.transport =
      m.at("transport").get<std::string>() == "vsock" ? Transport::Vsock : Transport::VirtioSerial;
  s.kernel = m.at("kernel").get<std::string>();
  s.cmdline = m.at("cmdline").get<std::string>();
  s.ksm_merge = m.value("ksm_merge", true);
  if (m.contains("initial_time")) s.initial_time = m["initial_time"].get<std::int64_t>();
  if (m.contains("rng_seed")) s.rng_seed = m["rng_seed"].get<std::uint64_t>();
  for (auto& n : m.value("nics", nlohmann::json::array()))
    s.nics.push_back({n.at("id").get<std::string>(), n.at("mac").get<std::string>(), -1});
  for (auto& d : m.value("drives", nlohmann::json::array()))
    s.drives.push_back({d.at("id").get<std::string>(), d.at("file").get<std::string>(),
                        d.value("readonly", false), d.value("scratch_bytes", std::uint64_t{0}),
                        d.value("backing", std::string())});
  return s;
}

// Resident bytes of QEMU's mapping of guest RAM (the one anonymous mapping of exactly the
// guest's memory size in /proc/PID/smaps): the guest pages the host has ever had to back.
std::optional<std::uint64_t> guest_ram_resident(pid_t pid, std::uint64_t ram_bytes) {
  std::ifstream in(fmt::format("/proc/{}/smaps", pid));
  std::string line;
  bool in_ram = false;
  while (std::getline(in, line)) {
    unsigned long long lo = 0, hi = 0, kib = 0;
    if (std::sscanf(line.c_str(), "%llx-%llx ", &lo, &hi) == 2)
      in_ram = hi - lo == ram_bytes;
    else if (in_ram && std::sscanf(line.c_str(), "Rss: %llu kB", &kib) == 1)
      return static_cast<std::uint64_t>(kib) * 1024;
  }
  return std::nullopt;
}

void QemuMachine::zero_free_guest_memory() {
  // Pages the guest freed keep their old bytes and QEMU streams every page that is not all
  // zeros; the agent zeroes free memory first (agent/ops_memory.cpp), so a booted 256 MiB guest
  // snapshots to the memory it uses. Free pages the host never backed are zero already, so the
  // agent is told how much RAM is resident and zeroes only about as much as may be dirty
  // (its allocator hands out recently freed pages first): zeroing all of a 4 GiB guest would
  // take seconds under TCG and make the host back all of it. Best effort: without a live
  // agent, with an older agent or a guest too busy to answer, the snapshot is only larger.
  if (!agent_ || !agent_->alive()) return;
  auto until = Qmp::Clock::now() + 10s;
  proto::Map args;
  std::uint64_t ram = spec_.memory_mib << 20;
  if (auto resident = guest_ram_resident(pid_, ram)) {
    args["ram_bytes"] = proto::Value{static_cast<std::int64_t>(ram)};
    args["resident_bytes"] = proto::Value{static_cast<std::int64_t>(*resident)};
  }
  try {
    agent_->call("zero_free_memory", proto::Value{std::move(args)}, [&]() -> std::string {
      return Qmp::Clock::now() > until ? "zero_free_memory took over 10 s" : "";
    });
  } catch (const std::exception&) {
  }
}

void QemuMachine::snapshot(const std::string& path) {
  bool was_running = qmp_.execute("query-status").value("status", "") == "running";
  if (was_running) {
    zero_free_guest_memory();  // needs the guest running; a paused VM is saved as it is
    qmp_.execute("stop");
  }
  auto resume_after = [&] {
    if (was_running) qmp_.execute("cont");
  };
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0)
    throw std::runtime_error(fmt::format("snapshot: pipe: {}", std::strerror(errno)));
  widen_pipe(p[1]);
  std::string tmp = path + ".tmp";
  std::string write_error;
  std::thread writer;
  try {
    qmp_.execute_with_fd("getfd", {{"fdname", "snapfd"}}, p[1]);
    ::close(p[1]);
    p[1] = -1;
    writer = std::thread([&, rfd = p[0]] {
      try {
        write_snapshot(rfd, tmp, device_model());
      } catch (const std::exception& e) {
        write_error = e.what();
        // Keep draining so QEMU never blocks on a full pipe, then report the first error.
        char sink[65536];
        while (::read(rfd, sink, sizeof sink) > 0) {
        }
      }
    });
    std::uint64_t mark = qmp_.mark();
    qmp_.execute("migrate", {{"uri", "fd:snapfd"}});
    auto ev = qmp_.wait_event("MIGRATION", mark, 120s, [](const Qmp::Json& e) {
      std::string st = e["data"].value("status", "");
      return st == "completed" || st == "failed" || st == "cancelled";
    });
    std::string st = ev["data"].value("status", "");
    if (st != "completed") {
      std::string why = st;
      try {
        auto info = qmp_.execute("query-migrate");
        why = info.value("error-desc", st);
      } catch (const QmpError&) {
      }
      throw std::runtime_error(fmt::format("snapshot: migration {}", why));
    }
    writer.join();  // QEMU closes its end when the stream is complete: EOF ends the writer
    ::close(p[0]);
    p[0] = -1;
    if (!write_error.empty()) throw std::runtime_error("snapshot: " + write_error);
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec)
      throw std::runtime_error(
          fmt::format("snapshot: cannot install `{}`: {}", path, ec.message()));
  } catch (...) {
    if (p[1] >= 0) ::close(p[1]);
    if (writer.joinable()) {
      try {
        qmp_.execute("migrate_cancel");
      } catch (const QmpError&) {
      }
      writer.join();
    }
    if (p[0] >= 0) ::close(p[0]);
    ::unlink(tmp.c_str());
    try {
      resume_after();
    } catch (const QmpError&) {
    }
    throw;
  }
  resume_after();
}

void QemuMachine::reset() {
  // -no-reboot turns guest resets into exits, so a reset is allowed for this one call only.
  try {
    qmp_.execute("set-action", {{"reboot", "reset"}});
    std::uint64_t mark = qmp_.mark();
    if (agent_) agent_->shutdown();
    agent_.reset();
    qmp_.execute("system_reset");
    qmp_.wait_event("RESET", mark, 10s);
    mark = qmp_.mark();
    auto deadline = Qmp::Clock::now() + 120s;
    int fd = connect_agent_socket(deadline);
    if (spec_.transport == Transport::VirtioSerial)
      qmp_.wait_event("VSERPORT_CHANGE", mark, 120s, [](const Qmp::Json& e) {
        return e["data"].value("id", "") == "pvport0" && e["data"].value("open", false);
      });
    handshake(fd, deadline, false);
    qmp_.execute("set-action", {{"reboot", "shutdown"}});
  } catch (const QmpError& e) {
    throw std::runtime_error(fmt::format("reset: {}", e.what()));
  }
}

void QemuMachine::power_button() {
  auto press = [&] {
    try {
      qmp_.execute("system_powerdown");
    } catch (const QmpError& e) {
      throw std::runtime_error(fmt::format("power_button: {}", e.what()));
    }
  };
  // A guest only sees a press while something listens for it (an ACPI event that arrives
  // before its input device is open is lost), so a guest still running after a while gets
  // pressed again, as a person would do.
  press();
  auto start = Qmp::Clock::now();
  auto until = start + 60s;
  auto next_press = start + 15s;
  while (qemu_running() && Qmp::Clock::now() < until) {
    std::this_thread::sleep_for(20ms);
    if (Qmp::Clock::now() >= next_press && qemu_running()) {
      press();
      next_press += 15s;
    }
  }
  if (qemu_running())
    throw std::runtime_error("power_button: the guest did not power off within 60 s");
  shutdown();
}

void QemuMachine::wakeup() {
  try {
    qmp_.execute("system_wakeup");
  } catch (const QmpError& e) {
    throw std::runtime_error(fmt::format("wakeup: {}", e.what()));
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
