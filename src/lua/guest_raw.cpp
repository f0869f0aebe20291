// The raw guest operations of REFERENCE §5.4 beyond vm:syscall: vm:ioctl (a File handle, a
// data buffer passed by pointer, further buffers spliced into it), vm:syscall_async (the call
// runs while Lua goes on; `pending:await()` returns the syscall table), and the snapshot
// readiness probes vm:is_quiescent / open_file_count / open_stream_count.
#include <fmt/format.h>

#include <chrono>
#include <future>
#include <lua.hpp>

#include "lab/vm.hpp"
#include "lua/context.hpp"
#include "lua/guest.hpp"
#include "lua/lab_vm.hpp"
#include "lua/support.hpp"

namespace provium::lua {
namespace {

using proto::Value;
constexpr const char* kAsyncSyscallMeta = "provium.AsyncSyscall";

std::string lua_bytes(lua_State* L, int idx) {
  size_t n;
  const char* s = lua_tolstring(L, idx, &n);
  return std::string(s, n);
}

int vm_ioctl(lua_State* L) {
  auto agent = guest_agent(L, "ioctl");
  proto::Map p;
  p["handle"] = Value{static_cast<std::int64_t>(luaL_checkinteger(L, 2))};
  p["cmd"] = Value{static_cast<std::int64_t>(luaL_checkinteger(L, 3))};
  std::string data;
  if (!lua_isnoneornil(L, 4)) {
    if (lua_type(L, 4) != LUA_TSTRING)
      raise(L, fmt::format("vm:ioctl: data must be a byte string, got {}", type_of(L, 4)));
    data = lua_bytes(L, 4);
  }
  p["data"] = Value{proto::Bytes{data}};
  if (lua_istable(L, 5)) {
    proto::Array bufs, offsets;
    lua_getfield(L, 5, "bufs");
    if (lua_istable(L, -1))
      for (lua_Integer i = 1; i <= luaL_len(L, -1); ++i) {
        lua_rawgeti(L, -1, i);
        if (lua_type(L, -1) != LUA_TSTRING)
          raise(L, fmt::format("vm:ioctl: bufs[{}] must be a byte string", i));
        bufs.push_back(Value{proto::Bytes{lua_bytes(L, -1)}});
        lua_pop(L, 1);
      }
    lua_pop(L, 1);
    lua_getfield(L, 5, "ptr_offsets");
    if (lua_istable(L, -1))
      for (lua_Integer i = 1; i <= luaL_len(L, -1); ++i) {
        lua_rawgeti(L, -1, i);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
          raise(L,
                fmt::format("vm:ioctl: ptr_offsets[{}] must be a byte offset (integer >= 0)", i));
        offsets.push_back(Value{static_cast<std::int64_t>(lua_tointeger(L, -1))});
        lua_pop(L, 1);
      }
    lua_pop(L, 1);
    if (offsets.size() != bufs.size())
      raise(L, fmt::format("vm:ioctl: {} bufs but {} ptr_offsets; give one offset per buffer",
                           bufs.size(), offsets.size()));
    if (!bufs.empty()) {
      p["bufs"] = Value{std::move(bufs)};
      p["ptr_offsets"] = Value{std::move(offsets)};
    }
  }
  Value r = call_op(L, agent, "ioctl", Value{std::move(p)}, "ioctl");
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, proto::int_field(r, "ret"));
  lua_setfield(L, -2, "ret");
  lua_pushinteger(L, proto::int_field(r, "ret"));
  lua_setfield(L, -2, "result");
  std::string out = proto::bytes_field(r, "out_data");
  lua_pushlstring(L, out.data(), out.size());
  lua_setfield(L, -2, "out_data");
  lua_newtable(L);
  if (auto ob = proto::opt_field(r, "out_bufs"); ob && ob->as_array())
    for (size_t i = 0; i < ob->as_array()->size(); ++i) {
      auto& b = (*ob->as_array())[i];
      std::string d = b.as_bytes() ? b.as_bytes()->data : std::string();
      lua_pushlstring(L, d.data(), d.size());
      lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
    }
  lua_setfield(L, -2, "out_bufs");
  return 1;
}

struct AsyncSyscallUd {
  std::future<client::Reply> result;
  bool awaited = false;
};

int vm_syscall_async(lua_State* L) {
  auto agent = guest_agent(L, "syscall_async");
  Value payload = syscall_payload(L, 2);
  auto* ud = static_cast<AsyncSyscallUd*>(lua_newuserdatauv(L, sizeof(AsyncSyscallUd), 0));
  new (ud) AsyncSyscallUd{};
  // The request is on the wire before this returns; only the wait for its reply is deferred.
  ud->result = std::async(std::launch::async, [agent, payload = std::move(payload)]() mutable {
    return agent->call("syscall", std::move(payload));
  });
  luaL_setmetatable(L, kAsyncSyscallMeta);
  return 1;
}

int async_await(lua_State* L) {
  auto& p = *static_cast<AsyncSyscallUd*>(luaL_checkudata(L, 1, kAsyncSyscallMeta));
  if (p.awaited) raise(L, "pending:await: the syscall result was already returned");
  auto intr = interrupt_check(L);
  while (p.result.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    std::string why = intr ? intr() : std::string();
    if (!why.empty()) raise(L, why);
  }
  p.awaited = true;
  client::Reply r;
  std::string err;
  try {
    r = p.result.get();
  } catch (const std::exception& e) {
    err = e.what();
  }
  if (!err.empty()) raise(L, "vm:syscall_async: " + err);
  push_syscall_result(L, r.payload);
  return 1;
}

int async_gc(lua_State* L) {
  auto* p = static_cast<AsyncSyscallUd*>(luaL_checkudata(L, 1, kAsyncSyscallMeta));
  if (p->result.valid()) p->result.wait();  // the thread holds the agent: let it finish
  p->~AsyncSyscallUd();
  return 0;
}

// Readiness for a snapshot: no live streams and no requests in flight on the connection.
int vm_open_stream_count(lua_State* L) {
  auto& vm = check_shared<lab::Vm>(L, 1, kVmMeta, "vm:open_stream_count");
  auto agent = vm->machine() ? vm->machine()->agent() : nullptr;
  lua_pushinteger(L, agent ? static_cast<lua_Integer>(agent->live_stream_labels().size()) : 0);
  return 1;
}

int vm_open_file_count(lua_State* L) {
  check_shared<lab::Vm>(L, 1, kVmMeta, "vm:open_file_count");
  // Files are counted by the scope registry in Lua (they hold agent handles).
  lua_getglobal(L, "_provium_open_count");
  if (!lua_isfunction(L, -1)) {
    lua_pushinteger(L, 0);
    return 1;
  }
  lua_pushstring(L, "file");
  lua_call(L, 1, 1);
  return 1;
}

int vm_is_quiescent(lua_State* L) {
  vm_open_stream_count(L);
  bool quiet = lua_tointeger(L, -1) == 0;
  lua_pop(L, 1);
  vm_open_file_count(L);
  quiet = quiet && lua_tointeger(L, -1) == 0;
  lua_pop(L, 1);
  lua_pushboolean(L, quiet);
  return 1;
}

constexpr Method kVmRawMethods[] = {
    {"ioctl", guarded<vm_ioctl>,
     "fd: integer, cmd: integer, data?: string, opts?: {bufs?: string[], ptr_offsets?: integer[]}",
     "{ret: integer, result: integer, out_data: string, out_bufs: string[]}",
     "An ioctl on a guest file handle (file:fd()), `data` passed by pointer."},
    {"syscall_async", guarded<vm_syscall_async>, "nr: integer, ...", "AsyncSyscall",
     "Starts a raw system call in the guest; await() returns its result."},
    {"is_quiescent", guarded<vm_is_quiescent>, "", "boolean",
     "True when no stream and no file is open on the VM (ready for a snapshot)."},
    {"open_file_count", guarded<vm_open_file_count>, "", "integer",
     "How many File objects are open."},
    {"open_stream_count", guarded<vm_open_stream_count>, "", "integer",
     "How many streams are open on the VM's agent connection."},
};

constexpr Method kAsyncSyscallMethods[] = {
    {"await", guarded<async_await>, "",
     "{ret: integer, result: integer, errno: integer, out_bufs: string[]}",
     "Waits for the system call and returns its result (once)."},
};

}  // namespace

const TypeDecl kVmRawApi = declare_type("Vm", kVmMeta, kVmRawMethods);
const TypeDecl kAsyncSyscallApi =
    declare_type("AsyncSyscall", kAsyncSyscallMeta, kAsyncSyscallMethods);

void register_guest_raw(lua_State* L, int idx) {
  register_methods(L, kVmRawApi, idx);
  new_meta(L, kAsyncSyscallApi, async_gc);
}

}  // namespace provium::lua
