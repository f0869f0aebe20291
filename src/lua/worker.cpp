// The Worker object (REFERENCE §5.11): a separate guest process (a re-executed agent with its
// own credentials and handle table) reached through the main agent's relay. Processes and
// files it opens are ordinary Process/File objects whose relayed handles the agent forwards.
#include <fmt/format.h>

#include <csignal>
#include <lua.hpp>

#include "lua/context.hpp"
#include "lua/guest.hpp"
#include "lua/lab_vm.hpp"
#include "lua/support.hpp"

namespace provium::lua {
namespace {

using proto::Value;
constexpr const char* kWorkerMeta = "provium.Worker";
constexpr const char* kPendingMeta = "provium.PendingSyscall";

struct WorkerUd {
  std::shared_ptr<client::AgentClient> agent;
  std::int64_t handle = 0;
  bool joined = false;
};

struct PendingUd {
  std::shared_ptr<client::AgentClient> agent;
  std::int64_t handle = 0;
  bool awaited = false;
};

WorkerUd& check_worker(lua_State* L, const char* method) {
  auto& w = *static_cast<WorkerUd*>(luaL_checkudata(L, 1, kWorkerMeta));
  if (w.joined && method)
    raise(L,
          fmt::format("worker:{}: the worker was joined; its handle is no longer valid", method));
  return w;
}

// {handle = worker, <key> = value}
Value with_handle(std::int64_t h, const char* key = nullptr, Value v = {}) {
  proto::Map m;
  m["handle"] = Value{h};
  if (key) m[key] = std::move(v);
  return Value{std::move(m)};
}

int worker_run(lua_State* L) {
  auto& w = check_worker(L, "run");
  Value args = exec_args(L, 2, "worker:run", true);
  client::Reply raw;
  Value ok = call_op(L, w.agent, "worker_exec", with_handle(w.handle, "exec", std::move(args)),
                     "worker:run", &raw);
  push_run_result(L, ok, raw.stdout_prefix, raw.stderr_prefix);
  return 1;
}

int worker_run_async(lua_State* L) {
  auto& w = check_worker(L, "run_async");
  Value args = exec_args(L, 2, "worker:run_async", false);
  Value h = call_op(L, w.agent, "worker_run_async", with_handle(w.handle, "args", std::move(args)),
                    "worker:run_async");
  push_process(L, w.agent, *h.as_int());
  return 1;
}

int worker_syscall(lua_State* L) {
  auto& w = check_worker(L, "syscall");
  Value r = call_op(L, w.agent, "worker_syscall",
                    with_handle(w.handle, "args", syscall_payload(L, 2)), "worker:syscall");
  push_syscall_result(L, r);
  return 1;
}

int worker_syscall_async(lua_State* L) {
  auto& w = check_worker(L, "syscall_async");
  Value h = call_op(L, w.agent, "worker_syscall_begin",
                    with_handle(w.handle, "args", syscall_payload(L, 2)), "worker:syscall_async");
  auto* p = static_cast<PendingUd*>(lua_newuserdatauv(L, sizeof(PendingUd), 0));
  new (p) PendingUd{w.agent, *h.as_int(), false};
  luaL_setmetatable(L, kPendingMeta);
  return 1;
}

int pending_await(lua_State* L) {
  auto& p = *static_cast<PendingUd*>(luaL_checkudata(L, 1, kPendingMeta));
  if (p.awaited) raise(L, "pending:await: the syscall result was already returned");
  Value r = call_op(L, p.agent, "worker_syscall_await", with_handle(p.handle), "pending:await");
  p.awaited = true;
  push_syscall_result(L, r);
  return 1;
}

int pending_gc(lua_State* L) {
  static_cast<PendingUd*>(lua_touserdata(L, 1))->~PendingUd();
  return 0;
}

int worker_open_file(lua_State* L) {
  auto& w = check_worker(L, "open_file");
  std::string path = luaL_checkstring(L, 2);
  Value args = open_file_payload(L, path, 3, "worker:open_file");
  Value h = call_op(L, w.agent, "worker_open_file", with_handle(w.handle, "args", std::move(args)),
                    "worker:open_file");
  push_file(L, w.agent, *h.as_int(), path);
  return 1;
}

int worker_kill(lua_State* L) {
  auto& w = check_worker(L, "kill");
  if (!lua_isnoneornil(L, 2) && !lua_isinteger(L, 2) && lua_type(L, 2) != LUA_TSTRING)
    raise(L,
          fmt::format("worker:kill: signal must be an integer or a name, got {}", type_of(L, 2)));
  int sig = parse_signal(L, 2, "worker:kill", SIGTERM);
  Value n = call_op(L, w.agent, "worker_kill",
                    with_handle(w.handle, "signal", Value{static_cast<std::int64_t>(sig)}),
                    "worker:kill");
  lua_pushinteger(L, n.as_int() ? *n.as_int() : 0);
  return 1;
}

int worker_join(lua_State* L) {
  auto& w = check_worker(L, "join");
  Value v = call_op(L, w.agent, "worker_join", with_handle(w.handle), "worker:join");
  w.joined = true;
  lua_pushinteger(L, proto::int_field(v, "exit_status"));
  return 1;
}

int worker_handle(lua_State* L) {
  lua_pushinteger(L, check_worker(L, nullptr).handle);
  return 1;
}

// Scope teardown: SIGTERM the children, then join; children that ignore SIGTERM for 2 s are
// killed, so teardown never hangs. Errors (a worker that died) are swallowed.
int worker_close(lua_State* L) {
  auto& w = check_worker(L, nullptr);
  if (w.joined || !w.agent || !w.agent->alive()) return 0;
  w.joined = true;
  auto bounded = [](std::chrono::milliseconds limit) -> client::InterruptCheck {
    auto until = std::chrono::steady_clock::now() + limit;
    return [until] {
      return std::chrono::steady_clock::now() >= until ? std::string("close timed out")
                                                       : std::string();
    };
  };
  auto kill = [&](int sig) {
    w.agent->call("worker_kill",
                  with_handle(w.handle, "signal", Value{static_cast<std::int64_t>(sig)}),
                  bounded(std::chrono::seconds(2)));
  };
  try {
    kill(SIGTERM);
    try {
      w.agent->call("worker_join", with_handle(w.handle), bounded(std::chrono::seconds(2)));
    } catch (const client::Interrupted&) {
      kill(SIGKILL);
      w.agent->call("worker_join", with_handle(w.handle), bounded(std::chrono::seconds(2)));
    }
  } catch (const std::exception&) {
  }
  return 0;
}

int worker_tostring(lua_State* L) {
  auto& w = check_worker(L, nullptr);
  lua_pushstring(L, fmt::format("worker({}{})", w.handle, w.joined ? " joined" : "").c_str());
  return 1;
}

int worker_gc(lua_State* L) {
  static_cast<WorkerUd*>(lua_touserdata(L, 1))->~WorkerUd();
  return 0;
}

// Options: thread (false only), uid, gid (integers), groups (integers), caps (names).
Value spawn_options(lua_State* L, int idx) {
  proto::Map m;
  if (lua_isnoneornil(L, idx)) return Value{std::move(m)};
  if (!lua_istable(L, idx))
    raise(L, fmt::format("vm:spawn_worker: options must be a table, got {}", type_of(L, idx)));
  auto id_value = [&](const std::string& key, int at) {
    if (!lua_isinteger(L, at) || lua_tointeger(L, at) < 0 || lua_tointeger(L, at) > 0xfffffffeLL)
      raise(L, fmt::format("vm:spawn_worker: {} must be a non-negative integer id, got {}", key,
                           type_of(L, at)));
    return Value{static_cast<std::int64_t>(lua_tointeger(L, at))};
  };
  auto list = [&](const std::string& key, bool names) {
    if (!lua_istable(L, -1))
      raise(L, fmt::format("vm:spawn_worker: {} must be an array of {}, got {}", key,
                           names ? "capability names" : "group ids", type_of(L, -1)));
    proto::Array out;
    for (lua_Integer i = 1, n = luaL_len(L, -1); i <= n; ++i) {
      lua_rawgeti(L, -1, i);
      if (names && lua_type(L, -1) != LUA_TSTRING)
        raise(L, fmt::format("vm:spawn_worker: caps[{}] must be a capability name, got {}", i,
                             type_of(L, -1)));
      out.push_back(names ? Value{std::string(lua_tostring(L, -1))}
                          : id_value(fmt::format("groups[{}]", i), -1));
      lua_pop(L, 1);
    }
    return Value{std::move(out)};
  };
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) != LUA_TSTRING)
      raise(L, fmt::format("vm:spawn_worker: option keys must be strings, got {}", type_of(L, -2)));
    std::string key = lua_tostring(L, -2);
    if (key == "thread") {
      if (!lua_isboolean(L, -1))
        raise(L, fmt::format("vm:spawn_worker: thread must be a boolean, got {}", type_of(L, -1)));
      if (lua_toboolean(L, -1))
        raise(L,
              "vm:spawn_worker: {thread = true} is not supported (future work); workers are "
              "processes ({thread = false}, the default)");
    } else if (key == "uid" || key == "gid") {
      m[key] = id_value(key, -1);
    } else if (key == "groups" || key == "caps") {
      m[key] = list(key, key == "caps");
    } else {
      raise(L, fmt::format("vm:spawn_worker: unknown option `{}` (expected thread, uid, gid, "
                           "groups, caps)",
                           key));
    }
    lua_pop(L, 1);
  }
  return Value{std::move(m)};
}

int vm_spawn_worker(lua_State* L) {
  auto agent = guest_agent(L, "spawn_worker");
  Value opts = spawn_options(L, 2);
  Value h = call_op(L, agent, "spawn_worker", std::move(opts), "spawn_worker");
  auto* w = static_cast<WorkerUd*>(lua_newuserdatauv(L, sizeof(WorkerUd), 0));
  new (w) WorkerUd{agent, *h.as_int(), false};
  luaL_setmetatable(L, kWorkerMeta);
  register_resource(L, -1, "worker");
  return 1;
}

constexpr Method kWorkerMethods[] = {
    {"run", guarded<worker_run>, "cmd: string|string[], opts?: table", "RunResult",
     "Runs a command as the worker (its credentials) and waits for it."},
    {"run_async", guarded<worker_run_async>, "cmd: string|string[], opts?: table", "Process",
     "Starts a command as the worker without waiting for it."},
    {"syscall", guarded<worker_syscall>, "nr: integer, ...",
     "{ret: integer, result: integer, errno: integer, out_bufs: string[]}",
     "Makes a raw system call in the worker process."},
    {"syscall_async", guarded<worker_syscall_async>, "nr: integer, ...", "PendingSyscall",
     "Starts a raw system call in the worker; await() returns its result."},
    {"open_file", guarded<worker_open_file>,
     "path: string, mode: {read?: boolean, write?: boolean, create?: boolean, truncate?: boolean, "
     "append?: boolean, exclusive?: boolean, perm?: integer}",
     "File", "Opens a guest file as the worker."},
    {"kill", guarded<worker_kill>, "sig?: integer|string", "integer",
     "Signals the worker's async children (default SIGTERM); returns how many were signalled."},
    {"join", guarded<worker_join>, "", "integer",
     "Waits for the async children; returns the worst exit status (128+N when killed by signal "
     "N)."},
    {"handle", guarded<worker_handle>, "", "integer", "The agent's handle for the worker."},
    {"close", guarded<worker_close>, "", "nil",
     "Ends the worker: SIGTERM to its children, then join (SIGKILL after 2 s)."},
};

constexpr Method kPendingSyscallMethods[] = {
    {"await", guarded<pending_await>, "",
     "{ret: integer, result: integer, errno: integer, out_bufs: string[]}",
     "Waits for the worker's system call and returns its result (once)."},
};

constexpr Method kVmWorkerMethods[] = {
    {"spawn_worker", guarded<vm_spawn_worker>,
     "opts?: {thread?: false, uid?: integer, gid?: integer, groups?: integer[], caps?: string[]}",
     "Worker", "Starts a worker process in the guest with its own credentials."},
};

}  // namespace

const TypeDecl kWorkerApi = declare_type("Worker", kWorkerMeta, kWorkerMethods);
const TypeDecl kPendingSyscallApi =
    declare_type("PendingSyscall", kPendingMeta, kPendingSyscallMethods);
const TypeDecl kVmWorkerApi = declare_type("Vm", kVmMeta, kVmWorkerMethods);

void register_worker(lua_State* L, int vm_methods_idx) {
  vm_methods_idx = lua_absindex(L, vm_methods_idx);
  new_meta(L, kWorkerApi, worker_gc, guarded<worker_tostring>);
  new_meta(L, kPendingSyscallApi, pending_gc);
  register_methods(L, kVmWorkerApi, vm_methods_idx);
}

}  // namespace provium::lua
