// provium-agent: serves the provium wire protocol inside a guest (or a local sandbox).
//
//   provium-agent                 as the guest's init: mounts, modules, transport from cmdline
//   provium-agent --fd N          serve one connection on an inherited socket (local backend)
//   provium-agent --worker-fd N   same, as a worker process
//                 [--worker-creds SPEC]  credentials the worker takes first (worker_creds.hpp)
//   provium-agent --port N        vsock port (also PROVIUM_AGENT_PORT), default 1234
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include "agent/init.hpp"
#include "agent/server.hpp"
#include "agent/state.hpp"
#include "agent/version.hpp"
#include "agent/worker_creds.hpp"

using namespace provium::agent;

namespace {

void serve_fd_forever(int fd) {
  // A serial line has no connection of its own: after the host goes away, hunt again.
  while (true) {
    Connection c(fd);
    c.serve();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(
      stderr, "provium-agent: %s\nusage: provium-agent [--fd N | --worker-fd N] [--port N]\n", why);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  int serve_fd = -1, port = 1234;
  std::optional<WorkerCreds> creds;
  if (const char* p = std::getenv("PROVIUM_AGENT_PORT")) port = std::atoi(p);
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> int {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      char* end = nullptr;
      long v = std::strtol(argv[++i], &end, 10);
      if (!end || *end) usage(("bad value for " + a).c_str());
      return static_cast<int>(v);
    };
    if (a == "--fd" || a == "--worker-fd")
      serve_fd = value();
    else if (a == "--port")
      port = value();
    else if (a == "--worker-creds" && i + 1 < argc) {
      if (!(creds = decode_worker_creds(argv[++i]))) usage("bad value for --worker-creds");
    } else if (a == "--version") {
      std::printf("provium-agent %s\n", kAgentVersion);
      return 0;
    } else
      usage(("unknown argument " + a).c_str());
  }
  if (creds) {
    // Before any thread exists: capset applies to the calling thread only.
    std::string step;
    if (int err = apply_worker_creds(*creds, step)) {
      std::fprintf(stderr, "provium-agent: worker %s: %s\n", step.c_str(), std::strerror(err));
      std::_Exit(kCredsExitBase + err);
    }
  }
  ::signal(SIGPIPE, SIG_IGN);
  start_reaper();

  if (serve_fd >= 0) {
    // Local backend or worker: one connection; when the host goes away, so do we.
    Connection c(serve_fd);
    c.serve();
    // Detached helper threads (the reaper) must not delay the exit the host is waiting for.
    std::fflush(nullptr);
    std::_Exit(0);
  }

  set_serving_vm_guest();
  bool pid1 = ::getpid() == 1;
  bool chain = pid1 && ::access("/init", X_OK) == 0 && std::string(argv[0]) != "/init";
  if (pid1) {
    mount_basics();
    std::string transport = cmdline_transport();
    std::vector<std::string> mods = {"virtio_pci", "virtio_net", "virtio_blk", "qemu_fw_cfg"};
    mods.push_back(transport == "vsock" ? "vmw_vsock_virtio_transport" : "virtio_console");
    for (auto& m : image_modules()) mods.push_back(m);
    for (auto& p : load_modules(mods))
      std::fprintf(stderr, "provium-agent: module %s\n", p.c_str());
    if (chain) {
      // The user's init keeps PID 1; the agent continues as its child.
      pid_t child = ::fork();
      if (child > 0) {
        ::execl("/init", "/init", nullptr);
        std::perror("provium-agent: exec /init");
        power_off();
      }
    }
  }
  if (pid1 && !chain) watch_power_button();
  std::string transport = pid1 ? cmdline_transport() : "virtio-serial";
  if (transport == "vsock") {
    int lfd = listen_vsock(port);
    if (lfd < 0) {
      std::perror("provium-agent: vsock listen");
      if (pid1 && !chain) power_off();
      return 1;
    }
    while (true) {
      int cfd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
      if (cfd < 0) continue;
      Connection c(cfd);
      c.serve();
      ::close(cfd);
    }
  }
  int fd = open_virtio_port();
  if (fd < 0) {
    std::fprintf(stderr, "provium-agent: virtio-serial port %s not found\n", "org.provium.agent.0");
    if (pid1 && !chain) power_off();
    return 1;
  }
  serve_fd_forever(fd);
}
