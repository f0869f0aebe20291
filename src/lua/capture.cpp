// Packet capture (REFERENCE §5.15): tcpdump inside the file's network namespace writing
// classic pcap to a pipe. A feeder thread keeps every byte (so `save` always writes a whole
// pcap, header included, even after `read`s); `read` hands out what has not been read yet.
// The capture returns only once tcpdump says it is listening, so no packet sent after the
// call is missed. tcpdump dies with provium (PR_SET_PDEATHSIG), and with its scope.
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <thread>

#include "lua/context.hpp"
#include "lua/lab_vm.hpp"
#include "lua/net_objects.hpp"
#include "lua/support.hpp"
#include "vmm/spawner.hpp"

namespace provium::lua {
namespace {

constexpr size_t kMaxCaptureBytes = 256u << 20;  // beyond this, bytes are dropped (and counted)

struct CaptureState {
  std::mutex mu;
  std::condition_variable cv;
  std::string data;
  size_t read_pos = 0;
  size_t dropped = 0;
  bool ended = false;
};

struct CaptureUd {
  std::shared_ptr<CaptureState> st;
  pid_t pid = -1;
  std::thread feeder;
  std::string label;
  std::function<void()> on_stop;

  void stop() {
    if (pid > 0) {
      ::kill(pid, SIGINT);  // tcpdump flushes and exits
      for (int i = 0; i < 40 && ::waitpid(pid, nullptr, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
      if (::waitpid(pid, nullptr, WNOHANG) == 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
      }
      pid = -1;
    }
    if (feeder.joinable()) feeder.join();
    // After tcpdump has flushed: the mirror it listened on may go now.
    if (on_stop) {
      auto f = std::move(on_stop);
      on_stop = nullptr;
      try {
        f();
      } catch (...) {
      }
    }
  }
};

CaptureUd& check_capture(lua_State* L, const char* what) {
  auto* u = static_cast<CaptureUd*>(luaL_testudata(L, 1, kCaptureMeta));
  if (!u) raise(L, fmt::format("{}: expected a Capture, got {}", what, type_of(L, 1)));
  return *u;
}

// capture:read(timeout?) -> the bytes captured since the last read, "" when none arrived in
// time, nil once the capture has ended and everything was read.
int capture_read(lua_State* L) {
  auto& u = check_capture(L, "capture:read");
  double secs = lua_isnoneornil(L, 2) ? 1.0 : check_duration(L, 2, "capture:read: timeout");
  std::unique_lock lk(u.st->mu);
  u.st->cv.wait_for(lk, std::chrono::duration<double>(secs),
                    [&] { return u.st->read_pos < u.st->data.size() || u.st->ended; });
  if (u.st->read_pos >= u.st->data.size() && u.st->ended) {
    lua_pushnil(L);
    return 1;
  }
  std::string chunk = u.st->data.substr(u.st->read_pos);
  u.st->read_pos = u.st->data.size();
  lk.unlock();
  lua_pushlstring(L, chunk.data(), chunk.size());
  return 1;
}

// capture:bytes() -> the whole pcap so far (ours).
int capture_bytes(lua_State* L) {
  auto& u = check_capture(L, "capture:bytes");
  std::lock_guard lk(u.st->mu);
  lua_pushlstring(L, u.st->data.data(), u.st->data.size());
  return 1;
}

// capture:save(path) stops the capture and writes the whole pcap; returns the bytes written.
int capture_save(lua_State* L) {
  auto& u = check_capture(L, "capture:save");
  std::string path = luaL_checkstring(L, 2);
  u.stop();
  std::string data;
  {
    std::lock_guard lk(u.st->mu);
    data = u.st->data;
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  out.flush();
  if (!out)
    raise(L, fmt::format("capture:save: cannot write `{}`: {}", path, std::strerror(errno)));
  lua_pushinteger(L, static_cast<lua_Integer>(data.size()));
  return 1;
}

int capture_close(lua_State* L) {
  check_capture(L, "capture:close").stop();
  return 0;
}

int capture_gc(lua_State* L) {
  auto* u = static_cast<CaptureUd*>(lua_touserdata(L, 1));
  u->stop();
  u->~CaptureUd();
  return 0;
}

int capture_tostring(lua_State* L) {
  lua_pushstring(L, fmt::format("Capture({})", check_capture(L, "tostring").label).c_str());
  return 1;
}

constexpr Method kCaptureMethods[] = {
    {"read", guarded<capture_read>, "timeout?: Duration", "string|nil",
     "The pcap bytes captured since the last read (\"\" when none in time, nil once ended)."},
    {"bytes", guarded<capture_bytes>, "", "string", "The whole pcap captured so far."},
    {"save", guarded<capture_save>, "path: string", "integer",
     "Stops the capture and writes the pcap to the host file `path`; returns the bytes written."},
    {"close", guarded<capture_close>, "", "nil", "Stops the capture."},
};

}  // namespace

const TypeDecl kCaptureApi = declare_type("Capture", kCaptureMeta, kCaptureMethods);

void push_capture(lua_State* L, const std::string& device, const std::string& label,
                  std::function<void()> on_stop) {
  auto& ctx = context(L);
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
    raise(L, fmt::format("capture: pipe: {}", std::strerror(errno)));
  vmm::SpawnSpec spec;
  // --immediate-mode: every packet is handed over at once (not when a ring block fills).
  // -Z root: no privilege drop, which would clear PR_SET_PDEATHSIG and let tcpdump (and with
  // it the file's namespace) outlive a killed provium.
  spec.argv = {"tcpdump", "-i", device, "--immediate-mode", "-U", "-n", "-Z", "root", "-s",
               "65535",   "-w", "-"};
  spec.stdout_fd = out[1];
  spec.stderr_fd = err[1];
  spec.netns_fd = ctx.network.ns().fd();
  pid_t pid = -1;
  std::string spawn_err;
  try {
    pid = vmm::spawn_process(spec);
  } catch (const std::exception& e) {
    spawn_err = e.what();
  }
  ::close(out[1]);
  ::close(err[1]);
  if (pid < 0) {
    ::close(out[0]);
    ::close(err[0]);
    raise(L, fmt::format("{}: cannot start tcpdump: {} (install it: apt-get install tcpdump)",
                         label, spawn_err));
  }
  // Ready when tcpdump reports "listening on"; its stderr otherwise explains the failure.
  std::string msg;
  bool listening = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!listening && std::chrono::steady_clock::now() < deadline) {
    pollfd p{err[0], POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[512];
    ssize_t n = ::read(err[0], buf, sizeof buf);
    if (n <= 0) break;
    msg.append(buf, static_cast<size_t>(n));
    listening = msg.find("listening on") != std::string::npos;
  }
  if (!listening) {
    ::close(err[0]);
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    ::close(out[0]);
    if (on_stop) on_stop();
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    raise(L, fmt::format("{}: tcpdump did not start: {}", label, msg.empty() ? "no output" : msg));
  }
  auto* u = static_cast<CaptureUd*>(lua_newuserdatauv(L, sizeof(CaptureUd), 0));
  new (u) CaptureUd{};
  u->st = std::make_shared<CaptureState>();
  u->pid = pid;
  u->label = label;
  u->on_stop = std::move(on_stop);
  u->feeder = std::thread([st = u->st, fd = out[0], efd = err[0]] {
    // tcpdump keeps writing to stderr (warnings, the final statistics): drained here, so it
    // never dies of SIGPIPE before it has flushed the last packets.
    std::thread errs([efd] {
      char b[512];
      while (::read(efd, b, sizeof b) > 0) {
      }
      ::close(efd);
    });
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) {
      std::lock_guard lk(st->mu);
      if (st->data.size() + static_cast<size_t>(n) > kMaxCaptureBytes)
        st->dropped += static_cast<size_t>(n);
      else
        st->data.append(buf, static_cast<size_t>(n));
      st->cv.notify_all();
    }
    ::close(fd);
    errs.join();
    std::lock_guard lk(st->mu);
    st->ended = true;
    st->cv.notify_all();
  });
  luaL_setmetatable(L, kCaptureMeta);
  register_resource(L, lua_gettop(L), "stream");
}

void register_capture(lua_State* L) {
  new_meta(L, kCaptureApi, capture_gc, guarded<capture_tostring>);
}

}  // namespace provium::lua
