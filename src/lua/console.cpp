// vm:console() and the Console object (REFERENCE §5.9): bindings over src/lab/console.cpp;
// each Console keeps its own `expect` cursor.
#include "lab/console.hpp"

#include <fmt/format.h>

#include <lua.hpp>

#include "lab/vm.hpp"
#include "lua/context.hpp"
#include "lua/guest.hpp"
#include "lua/lab_vm.hpp"
#include "lua/support.hpp"

namespace provium::lua {
namespace {

using VmPtr = std::shared_ptr<lab::Vm>;
constexpr const char* kConsoleMeta = "provium.Console";

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
      path.empty()
          ? std::string()
          : lab::read_console_log(path, 0, static_cast<std::size_t>(lab::console_log_size(path)));
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
  auto intr = interrupt_check(L);
  call_domain(L, "", [&] {
    c.cursor = lab::expect_in_console(path, c.cursor, needle, secs,
                                      [&] { return intr ? intr() : std::string(); });
  });
  lua_pushlstring(L, needle.data(), needle.size());
  return 1;
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
  std::size_t off = 0;
  call_domain(L, "console:write",
              [&] { off = lab::write_console(sock, std::string(data, n), secs); });
  lua_pushinteger(L, static_cast<lua_Integer>(off));
  return 1;
}

// A stream of console bytes from now on, fed by a thread that follows the log.
int console_read(lua_State* L) {
  auto& c = check_console(L);
  std::string path = log_path(c);
  if (path.empty()) raise(L, "console:read: VMM does not expose a console socket");
  auto ch = std::make_shared<client::StreamChannel>();
  lab::follow_console(c.vm, path, ch);
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
