// vm:console() (REFERENCE §5.9): the guest's serial console (ttyS0). QEMU writes everything
// the guest prints to console.log (kept across resets); `expect` scans only the bytes it has
// not seen (a cursor per console object), `read` opens a stream fed from the log, `write`
// types into the console socket.
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <lua.hpp>
#include <thread>

#include "lab/vm.hpp"
#include "lua/context.hpp"
#include "lua/guest.hpp"
#include "lua/lab_vm.hpp"
#include "lua/support.hpp"

namespace provium::lua {
namespace {

using VmPtr = std::shared_ptr<lab::Vm>;
constexpr const char* kConsoleMeta = "provium.Console";
using Clock = std::chrono::steady_clock;

struct ConsoleUd {
  VmPtr vm;
  std::uint64_t cursor = 0;  // expect() resumes here
};

ConsoleUd& check_console(lua_State* L) {
  return *static_cast<ConsoleUd*>(luaL_checkudata(L, 1, kConsoleMeta));
}

std::string log_path(const ConsoleUd& c) {
  return c.vm->machine() ? c.vm->machine()->console_log_path() : "";
}

// Bytes of the log from `offset` on (at most `cap`).
std::string read_from(const std::string& path, std::uint64_t offset, std::size_t cap = 1 << 20) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(static_cast<std::streamoff>(offset));
  std::string s(cap, '\0');
  in.read(s.data(), static_cast<std::streamsize>(cap));
  s.resize(static_cast<std::size_t>(in.gcount()));
  return s;
}

std::uint64_t log_size(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  return in ? static_cast<std::uint64_t>(in.tellg()) : 0;
}

int vm_console(lua_State* L) {
  auto& vm = check_shared<lab::Vm>(L, 1, kVmMeta, "vm:console");
  auto* c = static_cast<ConsoleUd*>(lua_newuserdatauv(L, sizeof(ConsoleUd), 0));
  new (c) ConsoleUd{vm, 0};
  luaL_setmetatable(L, kConsoleMeta);
  return 1;
}

int console_read_log(lua_State* L) {
  auto& c = check_console(L);
  std::string path = log_path(c);
  std::string all =
      path.empty() ? std::string() : read_from(path, 0, static_cast<std::size_t>(log_size(path)));
  lua_pushlstring(L, all.data(), all.size());
  return 1;
}

int console_expect(lua_State* L) {
  auto& c = check_console(L);
  size_t n;
  const char* s = luaL_checklstring(L, 2, &n);
  std::string needle(s, n);
  double secs = lua_isnoneornil(L, 3) ? 30.0 : check_duration(L, 3, "console:expect: timeout");
  std::string path = log_path(c);
  if (path.empty()) raise(L, "console:expect: VMM does not expose a console");
  auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<long long>(secs * 1000));
  auto intr = interrupt_check(L);
  std::string window;  // unmatched bytes since the cursor, trimmed to a needle's length
  std::uint64_t window_start = c.cursor;
  while (true) {
    std::string fresh = read_from(path, window_start + window.size());
    window += fresh;
    auto at = window.find(needle);
    if (at != std::string::npos) {
      c.cursor = window_start + at + needle.size();
      lua_pushlstring(L, needle.data(), needle.size());
      return 1;
    }
    if (window.size() > needle.size()) {
      std::size_t drop = window.size() - needle.size();
      window.erase(0, drop);
      window_start += drop;
    }
    if (Clock::now() >= deadline)
      raise(L, fmt::format("console:expect timed out waiting for `{}`", needle));
    if (intr) {
      std::string why = intr();
      if (!why.empty()) raise(L, why);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

int console_write(lua_State* L) {
  auto& c = check_console(L);
  size_t n;
  const char* data = luaL_checklstring(L, 2, &n);
  double secs = 5.0;
  if (lua_istable(L, 3)) {
    lua_getfield(L, 3, "timeout_ms");
    if (!lua_isnil(L, -1))
      raise(L,
            "console:write: opts.timeout_ms is not supported (use timeout = \"500ms\" or timeout = "
            "0.5)");
    lua_pop(L, 1);
    lua_getfield(L, 3, "timeout");
    if (!lua_isnil(L, -1)) secs = check_duration(L, -1, "console:write: timeout");
    lua_pop(L, 1);
  }
  std::string sock = c.vm->machine() ? c.vm->machine()->console_socket_path() : "";
  if (sock.empty()) raise(L, "console:write: VMM does not expose a console socket");
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, sock.c_str(), std::min(sock.size() + 1, sizeof a.sun_path));
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    int e = errno;
    if (fd >= 0) ::close(fd);
    raise(L, fmt::format("console:write: cannot connect to the console: {}", std::strerror(e)));
  }
  auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<long long>(secs * 1000));
  size_t off = 0;
  while (off < n) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (secs > 0 && left <= 0) break;
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, secs > 0 ? static_cast<int>(left) : 1000) <= 0) continue;
    ssize_t w = ::send(fd, data + off, n - off, MSG_NOSIGNAL);
    if (w < 0 && errno != EINTR && errno != EAGAIN) break;
    if (w > 0) off += static_cast<size_t>(w);
  }
  // Give QEMU a moment to take the bytes before the connection goes (it reads asynchronously).
  ::shutdown(fd, SHUT_WR);
  pollfd p{fd, POLLIN, 0};
  ::poll(&p, 1, 100);
  ::close(fd);
  lua_pushinteger(L, static_cast<lua_Integer>(off));
  return 1;
}

// A stream of console bytes from now on, fed by a thread that follows the log.
int console_read(lua_State* L) {
  auto& c = check_console(L);
  std::string path = log_path(c);
  if (path.empty()) raise(L, "console:read: VMM does not expose a console socket");
  auto ch = std::make_shared<client::StreamChannel>();
  std::uint64_t start = log_size(path);
  std::weak_ptr<lab::Vm> weak_vm = c.vm;
  std::thread([ch, path, start, weak_vm] {
    std::uint64_t off = start;
    while (!ch->closed()) {
      auto vm = weak_vm.lock();
      if (!vm || !vm->machine() || vm->machine()->console_log_path() != path)
        break;  // shut down or replaced
      vm.reset();
      std::string fresh = read_from(path, off, 64 << 10);
      if (!fresh.empty()) {
        off += fresh.size();
        ch->deliver(std::move(fresh));
        continue;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ch->finish("eof");
  }).detach();
  push_stream(L, ch, "console", c.vm->name());
  return 1;
}

int console_close(lua_State*) { return 0; }

int console_gc(lua_State* L) {
  check_console(L).~ConsoleUd();
  return 0;
}

constexpr Method kConsoleMethods[] = {
    {"read", guarded<console_read>, "", "Stream", "A stream of the console output from now on."},
    {"read_log", guarded<console_read_log>, "", "string", "The whole console output since boot."},
    {"expect", guarded<console_expect>, "needle: string, timeout?: Duration", "string",
     "Waits (default 30 s) until `needle` appears in the console output past the last match."},
    {"write", guarded<console_write>, "data: string, opts?: {timeout?: Duration}", "integer",
     "Types `data` into the console; returns the bytes written."},
    {"close", guarded<console_close>, "", "nil", "Does nothing (a console holds no resource)."},
};

constexpr Method kVmConsoleMethods[] = {
    {"console", guarded<vm_console>, "", "Console", "The VM's serial console."},
};

}  // namespace

const TypeDecl kConsoleApi = declare_type("Console", kConsoleMeta, kConsoleMethods);
const TypeDecl kVmConsoleApi = declare_type("Vm", kVmMeta, kVmConsoleMethods);

void register_console(lua_State* L, int idx) {
  register_methods(L, kVmConsoleApi, idx);
  new_meta(L, kConsoleApi, console_gc);
}

}  // namespace provium::lua
