#include "vmm/local/local_backend.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <stdexcept>

#include "util/host.hpp"
#include "util/text.hpp"
#include "vmm/local/sandbox.hpp"
#include "vmm/qemu/boot_options.hpp"
#include "vmm/spawner.hpp"

namespace provium::vmm::local {
namespace {

namespace fs = std::filesystem;

std::atomic<std::uint32_t> next_cid{100};

std::string agent_path() {
  std::string sibling = util::self_dir() + "/provium-agent";
  if (::access(sibling.c_str(), X_OK) == 0) return sibling;
  return util::find_on_path("provium-agent");
}

// A fresh copy-on-write layer: what the previous sandbox wrote is gone. The console log stays.
void fresh_layers(const std::string& scratch) {
  std::error_code ec;
  for (auto d : {"upper", "work", "root"}) {
    fs::remove_all(fs::path(scratch) / d, ec);
    fs::create_directories(fs::path(scratch) / d, ec);
    if (ec)
      throw std::runtime_error(
          fmt::format("local: cannot create `{}/{}`: {}", scratch, d, ec.message()));
  }
}

// Starts the sandbox of `spec` and returns its helper's pid and the handshaken agent.
std::pair<pid_t, std::shared_ptr<client::AgentClient>> start(const SandboxSpec& spec) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    throw std::runtime_error(fmt::format("local: socketpair: {}", std::strerror(errno)));
  pid_t pid;
  try {
    pid = start_sandbox(spec, sv[1]);
  } catch (...) {
    ::close(sv[0]);
    ::close(sv[1]);
    throw;
  }
  ::close(sv[1]);
  auto client = std::make_shared<client::AgentClient>(sv[0]);
  try {
    client->handshake(std::chrono::milliseconds(static_cast<long long>(spec.timeout_s * 1000)));
  } catch (const std::exception& e) {
    client.reset();
    stop_sandbox(pid);
    throw std::runtime_error(fmt::format("local: {}", e.what()));
  }
  return {pid, std::move(client)};
}

class LocalMachine : public Machine {
 public:
  LocalMachine(SandboxSpec spec, std::uint32_t cid) : spec_(std::move(spec)), cid_(cid) {
    std::tie(pid_, agent_) = start(spec_);
  }
  ~LocalMachine() override { shutdown(); }

  int netns_pid() const override { return pid_; }  // the helper joined the sandbox's netns
  std::uint32_t cid() const override { return cid_; }
  std::shared_ptr<client::AgentClient> agent() override { return agent_; }
  const char* backend_name() const override { return "local"; }
  bool shares_host_clock() const override { return true; }

  std::string console_log_path() const override { return spec_.scratch + "/console.log"; }
  std::string console_tail(std::size_t bytes) override {
    return util::file_tail(console_log_path(), bytes);
  }

  void shutdown() override {
    if (pid_ <= 0) return;
    stop();
    std::error_code ec;
    fs::remove_all(spec_.scratch, ec);
    janitor_forget(spec_.scratch);
  }

  // A reset is a new sandbox over a fresh overlay: every process, mount and file of the old
  // one is gone, as after a reboot from the original disk.
  void reset() override {
    stop();
    fresh_layers(spec_.scratch);
    try {
      std::tie(pid_, agent_) = start(spec_);
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("reset: {}", e.what()));
    }
  }

  void pause() override { signal_all(SIGSTOP); }
  void resume() override { signal_all(SIGCONT); }

 private:
  void stop() {
    if (agent_) agent_->shutdown();
    stop_sandbox(pid_);
    pid_ = -1;
    agent_.reset();
  }

  // Every process of the sandbox is in the process group of the helper.
  void signal_all(int sig) {
    if (pid_ > 0 && ::kill(-pid_, sig) != 0)
      throw std::runtime_error(
          fmt::format("local: cannot signal the sandbox: {}", std::strerror(errno)));
  }

  SandboxSpec spec_;
  std::uint32_t cid_;
  pid_t pid_ = -1;
  std::shared_ptr<client::AgentClient> agent_;
};

// Scratch directories are named provium-local-<pid>-<cid>; those of dead provium processes
// (killed with SIGKILL, so no destructor ran) are removed the first time a VM boots.
void sweep_stale_scratch(const std::string& dir) {
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (!name.starts_with("provium-local-")) continue;
    long pid = std::strtol(name.c_str() + 14, nullptr, 10);
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    fs::remove_all(e.path(), ec);
  }
}

class LocalBackend : public Backend {
 public:
  const char* name() const override { return "local"; }
  double default_agent_timeout() const override { return 10.0; }

  std::unique_ptr<Machine> boot(const BootRequest& req) override {
    SandboxSpec spec;
    spec.agent = agent_path();
    if (spec.agent.empty())
      throw std::runtime_error(
          "local: provium-agent not found beside provium or on PATH; build it (target "
          "provium-agent)");
    for (auto& f : qemu::read_boot_options(req.options).files)
      spec.files.push_back({f.path, f.content, f.mode});
    std::string base = util::temp_dir();
    static std::once_flag swept;
    std::call_once(swept, [&] { sweep_stale_scratch(base); });
    std::uint32_t cid = next_cid++;
    spec.scratch = fmt::format("{}/provium-local-{}-{}", base, ::getpid(), cid);
    spec.hostname = req.vm_name.substr(0, 63);
    spec.timeout_s = req.agent_timeout.value_or(default_agent_timeout());
    // Private to root: the upper layer holds whatever the guest's root wrote (set-uid files
    // included), which no other host user may reach.
    std::error_code ec;
    fs::create_directories(spec.scratch, ec);
    if (ec || ::chmod(spec.scratch.c_str(), 0700) != 0)
      throw std::runtime_error(fmt::format("local: cannot create scratch dir `{}`: {}",
                                           spec.scratch, ec ? ec.message() : std::strerror(errno)));
    const std::string scratch = spec.scratch;
    // After a SIGKILL of provium the janitor removes it (the sandbox dies with its helper).
    janitor_watch(scratch);
    try {
      fresh_layers(scratch);
      return std::make_unique<LocalMachine>(std::move(spec), cid);
    } catch (...) {
      fs::remove_all(scratch, ec);
      janitor_forget(scratch);
      throw;
    }
  }
};

}  // namespace

Backend& backend() {
  static LocalBackend b;
  return b;
}

}  // namespace provium::vmm::local
