// C++ primitives under the Lua prelude: sleeping and the clock (interruptible by timeouts),
// duration parsing, dependency notes for --watch, and the reset_between_tests baseline.
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <lua.hpp>

#include "lab/lab_snapshot.hpp"
#include "lab/reset_baseline.hpp"
#include "lua/bindings.hpp"
#include "lua/context.hpp"
#include "lua/lab_vm.hpp"
#include "lua/support.hpp"
#include "util/duration.hpp"

namespace provium::lua {
namespace {

// Raised when a sleep is cut short: the interrupt's own message ("test timed out after 2s").
[[noreturn]] void raise_interrupt(lua_State* L) {
  std::string msg = context(L).interrupt->message();
  lua_pushlstring(L, msg.data(), msg.size());
  lua_error(L);
  std::terminate();
}

int provium_sleep(lua_State* L) {
  double secs = check_duration(L, 1, "_provium_sleep");
  auto& ctx = context(L);
  if (ctx.interrupt && !ctx.interrupt->sleep_for(std::chrono::duration<double>(secs)))
    raise_interrupt(L);
  return 0;
}

int provium_now(lua_State* L) {
  using namespace std::chrono;
  lua_pushnumber(L, duration<double>(system_clock::now().time_since_epoch()).count());
  return 1;
}

int provium_duration(lua_State* L) {
  const char* what = luaL_optstring(L, 2, "duration");
  lua_pushnumber(L, check_duration(L, 1, what));
  return 1;
}

int provium_format_seconds(lua_State* L) {
  double s = luaL_checknumber(L, 1);
  lua_pushstring(L, fmt::format("{}", s).c_str());
  return 1;
}

int provium_note_dependency(lua_State* L) {
  std::error_code ec;
  auto p = std::filesystem::absolute(luaL_checkstring(L, 1), ec).lexically_normal();
  if (!ec) context(L).dependencies.insert(p.string());
  return 0;
}

}  // namespace

void register_framework(lua_State* L) {
  lua_register(L, "_provium_sleep", guarded<provium_sleep>);
  lua_register(L, "_provium_now", guarded<provium_now>);
  lua_register(L, "_provium_duration", guarded<provium_duration>);
  lua_register(L, "_provium_format_seconds", guarded<provium_format_seconds>);
  lua_register(L, "_provium_note_dependency", guarded<provium_note_dependency>);
}

int take_reset_baseline(lua_State* L) {
  auto* b = static_cast<lab::ResetBaseline*>(lua_touserdata(L, lua_upvalueindex(1)));
  auto& ctx = context(L);
  for (auto& m : lab::running_members(*ctx.root_lab))
    refuse_live_streams(L, *m.vm, m.vm->name(), "provium.reset_between_tests");
  call_domain(L, "provium.reset_between_tests", [&] { b->take(*ctx.root_lab); });
  return 0;
}

}  // namespace provium::lua
