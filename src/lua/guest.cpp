// Vm guest operations (REFERENCE §5.4): each checks the VM state, builds the agent request,
// and converts the reply. Errors read `<method>: <message> (errno N)`.
#include "lua/guest.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <lua.hpp>
#include <sstream>

#include "lua/context.hpp"
#include "lua/lab_vm.hpp"
#include "lua/support.hpp"
#include "util/duration.hpp"
#include "util/sha256.hpp"

namespace provium::lua {

using proto::Value;

std::shared_ptr<client::AgentClient> guest_agent(lua_State* L, const char* method) {
  auto& vm = check_shared<lab::Vm>(L, 1, kVmMeta, method);
  if (auto r = vm->refusal(lab::VmOp::GuestOp)) raise(L, fmt::format("vm:{}: {}", method, *r));
  auto agent = vm->machine() ? vm->machine()->agent() : nullptr;
  if (!agent || !agent->alive()) {
    std::string cause = agent ? agent->dead_cause() : "no agent connection";
    // The guest's last words usually say why (a panic, an oops, the agent's own complaint).
    std::string tail = vm->machine() ? vm->machine()->console_tail(4096) : "";
    if (!tail.empty()) cause += "\n--- console (last 4 KiB) ---\n" + tail;
    vm->mark_dead(cause);
    raise(L, fmt::format("vm:{}: VM is dead: {}", method, cause));
  }
  return agent;
}

client::InterruptCheck interrupt_check(lua_State* L) {
  auto* intr = context(L).interrupt;
  return
      [intr]() -> std::string { return intr && intr->pending() ? intr->message() : std::string(); };
}

Value call_op(lua_State* L, const std::shared_ptr<client::AgentClient>& agent,
              const std::string& kind, Value payload, const std::string& method,
              client::Reply* raw) {
  std::string err;
  client::Reply reply;
  try {
    reply = agent->call(kind, std::move(payload), interrupt_check(L));
  } catch (const client::Interrupted& e) {
    lua_pushstring(L, e.what());
    lua_error(L);
  } catch (const std::exception& e) {
    err = fmt::format("{}: {}", method, e.what());
  }
  if (!err.empty()) raise(L, err);
  if (raw) *raw = reply;
  if (kind == "syscall" || kind == "batch_op" || kind == "worker_syscall" ||
      kind == "worker_syscall_await")
    return reply.payload;  // plain shapes
  Value v;
  if (auto e = client::op_error(reply.payload, method, &v)) raise(L, *e);
  return v;
}

namespace {

bool is_array_table(lua_State* L, int idx) {
  if (!lua_istable(L, idx)) return false;
  lua_Integer n = luaL_len(L, idx);
  lua_Integer count = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    ++count;
    lua_pop(L, 1);
  }
  return count == n;
}

proto::Array string_array(lua_State* L, int idx, const char* what) {
  proto::Array out;
  for (lua_Integer i = 1, n = luaL_len(L, idx); i <= n; ++i) {
    lua_rawgeti(L, idx, i);
    if (!lua_isstring(L, -1)) raise(L, fmt::format("{}: argument {} must be a string", what, i));
    out.push_back(Value{std::string(lua_tostring(L, -1))});
    lua_pop(L, 1);
  }
  return out;
}

std::string bytes_arg(lua_State* L, int idx) {
  size_t len;
  const char* s = luaL_checklstring(L, idx, &len);
  return std::string(s, len);
}

}  // namespace

void push_stat(lua_State* L, const Value& v) {
  lua_createtable(L, 0, 5);
  auto ns = proto::int_field(v, "mtime_ns");
  lua_pushinteger(L, proto::int_field(v, "size"));
  lua_setfield(L, -2, "size");
  lua_pushnumber(L, static_cast<double>(ns) / 1e9);
  lua_setfield(L, -2, "mtime");
  lua_pushinteger(L, ns);
  lua_setfield(L, -2, "mtime_ns");
  lua_pushinteger(L, proto::int_field(v, "perm"));
  lua_setfield(L, -2, "perm");
  lua_pushstring(L, proto::str_field(v, "entry_type").c_str());
  lua_setfield(L, -2, "entry_type");
}

void push_listdir(lua_State* L, const Value& v) {
  auto arr = v.as_array();
  lua_createtable(L, arr ? static_cast<int>(arr->size()) : 0, 0);
  if (arr)
    for (size_t i = 0; i < arr->size(); ++i) {
      lua_createtable(L, 0, 2);
      lua_pushstring(L, proto::str_field((*arr)[i], "name").c_str());
      lua_setfield(L, -2, "name");
      lua_pushstring(L, proto::str_field((*arr)[i], "entry_type").c_str());
      lua_setfield(L, -2, "entry_type");
      lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
    }
}

Value exec_args(lua_State* L, int idx, const char* method, bool allow_timeout) {
  proto::Map a;
  // `method` is a Vm method ("run") or already qualified ("worker:run").
  std::string what = std::strchr(method, ':') ? method : fmt::format("vm:{}", method);
  int opts = 0;
  if (lua_istable(L, idx)) {
    // run({argv...}, opts?): direct exec of argv[1].
    auto argv = string_array(L, idx, what.c_str());
    if (argv.empty()) raise(L, fmt::format("{}: the argv table is empty", what));
    a["cmd"] = argv.front();
    argv.erase(argv.begin());
    a["args"] = Value{std::move(argv)};
    if (lua_istable(L, idx + 1)) opts = idx + 1;
  } else {
    std::string cmd = luaL_checkstring(L, idx);
    if (lua_istable(L, idx + 1) && is_array_table(L, idx + 1) && luaL_len(L, idx + 1) > 0) {
      a["cmd"] = Value{cmd};
      a["args"] = Value{string_array(L, idx + 1, what.c_str())};
    } else {
      // Options form: with `args` a direct exec of cmd, otherwise a shell command.
      if (lua_istable(L, idx + 1)) opts = idx + 1;
      if (opts && lua_getfield(L, opts, "args") == LUA_TTABLE) {
        if (luaL_len(L, opts) > 0)
          raise(L, fmt::format("{}: use either array entries or `args`, not both", what));
        a["cmd"] = Value{cmd};
        a["args"] = Value{string_array(L, lua_gettop(L), what.c_str())};
      } else {
        a["cmd"] = Value{"/bin/sh"};
        a["args"] = Value{proto::Array{Value{"-c"}, Value{cmd}}};
      }
      if (opts) lua_pop(L, 1);
    }
  }
  if (opts) {
    lua_getfield(L, opts, "env");
    if (lua_istable(L, -1)) {
      proto::Map env;
      lua_pushnil(L);
      while (lua_next(L, -2)) {
        if (!lua_isstring(L, -2) || !lua_isstring(L, -1))
          raise(L, fmt::format("{}: env must map strings to strings", what));
        env[lua_tostring(L, -2)] = Value{std::string(lua_tostring(L, -1))};
        lua_pop(L, 1);
      }
      a["env"] = Value{std::move(env)};
    } else if (!lua_isnil(L, -1)) {
      raise(L, fmt::format("{}: env must be a table", what));
    }
    lua_pop(L, 1);
    lua_getfield(L, opts, "env_clear");
    a["env_clear"] = Value{static_cast<bool>(lua_toboolean(L, -1))};
    lua_pop(L, 1);
    lua_getfield(L, opts, "cwd");
    if (lua_isstring(L, -1)) a["cwd"] = Value{std::string(lua_tostring(L, -1))};
    lua_pop(L, 1);
    lua_getfield(L, opts, "stdin");
    if (lua_isstring(L, -1)) {
      size_t len;
      const char* s = lua_tolstring(L, -1, &len);
      if (len) a["stdin"] = Value{proto::Bytes{std::string(s, len)}};
    }
    lua_pop(L, 1);
    lua_getfield(L, opts, "timeout");
    lua_getfield(L, opts, "timeout_ms");
    bool has_timeout = !lua_isnil(L, -2) || !lua_isnil(L, -1);
    if (has_timeout && !allow_timeout)
      raise(L, fmt::format("{}: timeout is not accepted here; use proc:wait(timeout)", what));
    if (!lua_isnil(L, -2)) {
      double secs = check_duration(L, -2, (what + ": timeout").c_str());
      a["timeout_ms"] = Value{static_cast<std::int64_t>(secs * 1000)};
    } else if (!lua_isnil(L, -1)) {
      if (!lua_isnumber(L, -1) || lua_tonumber(L, -1) < 0 ||
          lua_tonumber(L, -1) != lua_tonumber(L, -1))
        raise(L, fmt::format("{}: timeout_ms must be a non-negative number", what));
      a["timeout_ms"] = Value{static_cast<std::int64_t>(lua_tonumber(L, -1))};
    }
    lua_pop(L, 2);
  }
  return Value{std::move(a)};
}

Value syscall_payload(lua_State* L, int idx) {
  proto::Map p;
  p["nr"] = Value{static_cast<std::int64_t>(luaL_checkinteger(L, idx))};
  int t = idx + 1;
  proto::Array args;
  if (lua_istable(L, t)) {
    lua_getfield(L, t, "args");
    if (lua_istable(L, -1))
      for (lua_Integer i = 1, n = luaL_len(L, -1); i <= n && i <= 6; ++i) {
        lua_rawgeti(L, -1, i);
        args.push_back(Value{static_cast<std::int64_t>(lua_tointeger(L, -1))});
        lua_pop(L, 1);
      }
    lua_pop(L, 1);
    lua_getfield(L, t, "bufs");
    if (lua_istable(L, -1)) {
      proto::Array bufs;
      for (lua_Integer i = 1, n = luaL_len(L, -1); i <= n; ++i) {
        lua_rawgeti(L, -1, i);
        size_t len;
        const char* s = luaL_checklstring(L, -1, &len);
        bufs.push_back(Value{proto::Bytes{std::string(s, len)}});
        lua_pop(L, 1);
      }
      p["bufs"] = Value{std::move(bufs)};
    }
    lua_pop(L, 1);
    lua_getfield(L, t, "ptrs");
    if (lua_istable(L, -1)) {
      proto::Array ptrs;
      for (lua_Integer i = 1, n = luaL_len(L, -1); i <= n; ++i) {
        lua_rawgeti(L, -1, i);
        ptrs.push_back(Value{static_cast<std::int64_t>(lua_tointeger(L, -1))});
        lua_pop(L, 1);
      }
      p["ptrs"] = Value{std::move(ptrs)};
    }
    lua_pop(L, 1);
    lua_getfield(L, t, "nested");
    if (lua_istable(L, -1)) {
      proto::Array nested;
      for (lua_Integer i = 1, n = luaL_len(L, -1); i <= n; ++i) {
        lua_rawgeti(L, -1, i);
        proto::Map m;
        for (auto [key, off] :
             {std::pair{"parent", 1}, std::pair{"child", 1}, std::pair{"offset", 0}}) {
          lua_getfield(L, -1, key);
          m[key] =
              Value{static_cast<std::int64_t>(lua_tointeger(L, -1) - off)};  // 1-based -> 0-based
          lua_pop(L, 1);
        }
        nested.push_back(Value{std::move(m)});
        lua_pop(L, 1);
      }
      p["nested"] = Value{std::move(nested)};
    }
    lua_pop(L, 1);
  } else {
    for (int i = t; i <= std::min(lua_gettop(L), t + 5); ++i)
      args.push_back(Value{static_cast<std::int64_t>(luaL_checkinteger(L, i))});
  }
  p["args"] = Value{std::move(args)};
  return Value{std::move(p)};
}

void push_syscall_result(lua_State* L, const Value& r) {
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, proto::int_field(r, "ret"));
  lua_setfield(L, -2, "ret");
  lua_pushinteger(L, proto::int_field(r, "ret"));
  lua_setfield(L, -2, "result");
  lua_pushinteger(L, proto::int_field_or(r, "errno", 0));
  lua_setfield(L, -2, "errno");
  lua_newtable(L);
  if (auto ob = proto::opt_field(r, "out_bufs"); ob && ob->as_array())
    for (size_t i = 0; i < ob->as_array()->size(); ++i) {
      auto& b = (*ob->as_array())[i];
      std::string data = b.as_bytes() ? b.as_bytes()->data : std::string();
      lua_pushlstring(L, data.data(), data.size());
      lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
    }
  lua_setfield(L, -2, "out_bufs");
}

namespace {

int vm_run(lua_State* L) {
  auto agent = guest_agent(L, "run");
  Value args = exec_args(L, 2, "run", true);
  client::Reply raw;
  Value ok = call_op(L, agent, "exec", std::move(args), "run", &raw);
  push_run_result(L, ok, raw.stdout_prefix, raw.stderr_prefix);
  return 1;
}

int vm_read_file(lua_State* L) {
  auto agent = guest_agent(L, "read_file");
  proto::Map p;
  p["path"] = Value{std::string(luaL_checkstring(L, 2))};
  Value v = call_op(L, agent, "read_file", Value{std::move(p)}, "read_file");
  auto& data = proto::field(v, "data");
  if (auto b = data.as_bytes())
    lua_pushlstring(L, b->data.data(), b->data.size());
  else
    lua_pushstring(L, proto::bytes_field(v, "data").c_str());
  return 1;
}

int vm_write_file(lua_State* L) {
  auto agent = guest_agent(L, "write_file");
  proto::Map p;
  p["path"] = Value{std::string(luaL_checkstring(L, 2))};
  p["data"] = Value{proto::Bytes{bytes_arg(L, 3)}};
  call_op(L, agent, "write_file", Value{std::move(p)}, "write_file");
  return 0;
}

int vm_push_file(lua_State* L) {
  auto agent = guest_agent(L, "push_file");
  std::filesystem::path host = luaL_checkstring(L, 2);
  std::string guest = luaL_checkstring(L, 3);
  if (host.is_relative()) {
    // Relative to the directory of the calling Lua file: the first frame with a file source
    // (harness frames such as the prelude's are skipped).
    lua_Debug ar;
    for (int level = 1; lua_getstack(L, level, &ar); ++level) {
      if (!lua_getinfo(L, "S", &ar) || ar.source[0] != '@' ||
          std::string_view(ar.source).starts_with("@[provium]"))
        continue;
      host = std::filesystem::path(ar.source + 1).parent_path() / host;
      break;
    }
  }
  std::ifstream in(host, std::ios::binary);
  if (!in)
    raise(L, fmt::format("vm:push_file: cannot read host file `{}`: {}", host.string(),
                         std::strerror(errno)));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string data = ss.str();
  if (auto* rec = context(L).recorded) {
    // A fixture build: the pushed file joins the entry's recorded inputs (REFERENCE §8.4).
    bool auto_dep = true;
    if (lua_istable(L, 4)) {
      lua_getfield(L, 4, "auto_dep");
      if (lua_isboolean(L, -1)) auto_dep = lua_toboolean(L, -1);
      lua_pop(L, 1);
    }
    std::error_code ec;
    auto canon = std::filesystem::weakly_canonical(host, ec);
    if (auto_dep)
      rec->push_back({{"kind", "file"},
                      {"path", (ec ? host : canon).string()},
                      {"digest", util::sha256_hex(data)}});
  }
  proto::Map p;
  p["path"] = Value{guest};
  p["data"] = Value{proto::Bytes{std::move(data)}};
  call_op(L, agent, "write_file", Value{std::move(p)}, "push_file");
  return 0;
}

int vm_stat(lua_State* L) {
  auto agent = guest_agent(L, "stat");
  proto::Map p;
  p["path"] = Value{std::string(luaL_checkstring(L, 2))};
  bool follow = true;
  if (lua_istable(L, 3)) {
    lua_getfield(L, 3, "follow_symlinks");
    if (!lua_isnil(L, -1)) follow = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  p["follow_symlinks"] = Value{follow};
  push_stat(L, call_op(L, agent, "stat", Value{std::move(p)}, "stat"));
  return 1;
}

int vm_listdir(lua_State* L) {
  auto agent = guest_agent(L, "listdir");
  proto::Map p;
  p["path"] = Value{std::string(luaL_checkstring(L, 2))};
  push_listdir(L, call_op(L, agent, "listdir", Value{std::move(p)}, "listdir"));
  return 1;
}

int vm_mkdir(lua_State* L) {
  auto agent = guest_agent(L, "mkdir");
  proto::Map p;
  p["path"] = Value{std::string(luaL_checkstring(L, 2))};
  bool parents = false;
  if (lua_istable(L, 3)) {
    lua_getfield(L, 3, "parents");
    parents = lua_toboolean(L, -1);
    lua_getfield(L, 3, "perm");
    if (lua_isinteger(L, -1))
      p["create_perm"] = Value{static_cast<std::int64_t>(lua_tointeger(L, -1))};
    lua_pop(L, 2);
  }
  p["parents"] = Value{parents};
  call_op(L, agent, "mkdir", Value{std::move(p)}, "mkdir");
  return 0;
}

int vm_unlink(lua_State* L) {
  auto agent = guest_agent(L, "unlink");
  proto::Map p;
  p["path"] = Value{std::string(luaL_checkstring(L, 2))};
  call_op(L, agent, "unlink", Value{std::move(p)}, "unlink");
  return 0;
}

int vm_rename(lua_State* L) {
  auto agent = guest_agent(L, "rename");
  proto::Map p;
  p["from"] = Value{std::string(luaL_checkstring(L, 2))};
  p["to"] = Value{std::string(luaL_checkstring(L, 3))};
  call_op(L, agent, "rename", Value{std::move(p)}, "rename");
  return 0;
}

int vm_syscall(lua_State* L) {
  auto agent = guest_agent(L, "syscall");
  push_syscall_result(L, call_op(L, agent, "syscall", syscall_payload(L, 2), "syscall"));
  return 1;
}

int vm_read_mem(lua_State* L) {
  auto agent = guest_agent(L, "read_mem");
  proto::Map p;
  p["addr"] = Value{static_cast<std::int64_t>(luaL_checkinteger(L, 2))};
  p["len"] = Value{static_cast<std::int64_t>(luaL_checkinteger(L, 3))};
  client::Reply raw;
  std::string err;
  try {
    raw = agent->call("read_mem", Value{std::move(p)}, interrupt_check(L));
  } catch (const std::exception& e) {
    err = e.what();
  }
  if (!err.empty()) raise(L, "vm:read_mem: " + err);
  Value v;
  if (client::op_error(raw.payload, "read_mem", &v)) {
    lua_pushnil(L);
    auto e = proto::opt_field(raw.payload, "value");
    lua_pushinteger(L, e ? proto::int_field_or(*e, "errno", 0) : 0);
    return 2;
  }
  std::string bytes = proto::bytes_field(v, "bytes");
  lua_pushlstring(L, bytes.data(), bytes.size());
  return 1;
}

int vm_tail_file(lua_State* L) {
  auto agent = guest_agent(L, "tail_file");
  std::string path = luaL_checkstring(L, 2);
  proto::Map start;
  start["kind"] = Value{"end"};
  if (lua_istable(L, 3)) {
    lua_getfield(L, 3, "start");
    if (lua_type(L, -1) == LUA_TSTRING) {
      std::string s = lua_tostring(L, -1);
      if (s == "beginning" || s == "start")
        start["kind"] = Value{"beginning"};
      else if (s != "end")
        raise(L,
              fmt::format(
                  "vm:tail_file: start must be \"end\", \"beginning\" or a byte offset, got `{}`",
                  s));
    } else if (lua_isnumber(L, -1)) {
      double n = lua_tonumber(L, -1);
      if (n != n || n == HUGE_VAL || n == -HUGE_VAL)
        raise(L, "vm:tail_file: start must be a finite number");
      auto off = static_cast<std::int64_t>(n);
      if (off < 0) {
        // N bytes before the current end of file, resolved by a stat, clamped at 0.
        proto::Map sp;
        sp["path"] = Value{path};
        Value st = call_op(L, agent, "stat", Value{std::move(sp)}, "tail_file");
        off = std::max<std::int64_t>(0, proto::int_field(st, "size") + off);
      }
      start["kind"] = Value{"offset"};
      start["value"] = Value{off};
    }
    lua_pop(L, 1);
  }
  proto::Map p;
  p["path"] = Value{path};
  p["start"] = Value{std::move(start)};
  std::shared_ptr<client::StreamChannel> ch;
  std::string err;
  try {
    ch = agent->open_stream("tail_file", Value{std::move(p)}, "tail_file");
  } catch (const std::exception& e) {
    err = e.what();
  }
  if (!err.empty()) raise(L, err);
  push_stream(L, std::move(ch), "tail_file", path);
  return 1;
}

int vm_pause(lua_State* L) {
  auto& vm = check_shared<lab::Vm>(L, 1, kVmMeta, "vm:pause");
  vm->pause();
  return 0;
}

int vm_resume(lua_State* L) {
  auto& vm = check_shared<lab::Vm>(L, 1, kVmMeta, "vm:resume");
  vm->resume();
  return 0;
}

constexpr Method kVmGuestMethods[] = {
    {"run", guarded<vm_run>, "cmd: string|string[], args_or_opts?: string[]|table", "RunResult",
     "Runs a command in the guest (a shell line, or argv) and waits for it."},
    {"read_file", guarded<vm_read_file>, "path: string", "string", "A guest file's contents."},
    {"write_file", guarded<vm_write_file>, "path: string, data: string", "nil",
     "Writes `data` to a guest file (created or truncated)."},
    {"push_file", guarded<vm_push_file>, "host: string, guest: string, opts?: {auto_dep?: boolean}",
     "nil", "Copies a host file (relative to the calling Lua file) into the guest."},
    {"stat", guarded<vm_stat>, "path: string, opts?: {follow_symlinks?: boolean}",
     "{size: integer, mtime: number, mtime_ns: integer, perm: integer, entry_type: string}",
     "A guest path's size, modification time, permissions and type."},
    {"listdir", guarded<vm_listdir>, "path: string", "{name: string, entry_type: string}[]",
     "The entries of a guest directory."},
    {"mkdir", guarded<vm_mkdir>, "path: string, opts?: {parents?: boolean, perm?: integer}", "nil",
     "Creates a guest directory."},
    {"unlink", guarded<vm_unlink>, "path: string", "nil", "Removes a guest file."},
    {"rename", guarded<vm_rename>, "from: string, to: string", "nil", "Renames a guest path."},
    {"syscall", guarded<vm_syscall>, "nr: integer, ...",
     "{ret: integer, result: integer, errno: integer, out_bufs: string[]}",
     "Makes a raw system call in the guest agent (integer args, or {args=, bufs=, ptrs=})."},
    {"read_mem", guarded<vm_read_mem>, "addr: integer, len: integer", "string|nil",
     "Reads guest memory at `addr`; nil and the errno when it cannot."},
    {"tail_file", guarded<vm_tail_file>,
     "path: string, opts?: {start?: \"end\"|\"beginning\"|integer}", "Stream",
     "A stream of what is appended to a guest file."},
    {"pause", guarded<vm_pause>, "", "nil", "Stops the VM's CPUs."},
    {"resume", guarded<vm_resume>, "", "nil", "Restarts the CPUs of a paused VM."},
};

}  // namespace

const TypeDecl kVmGuestApi = declare_type("Vm", kVmMeta, kVmGuestMethods);

void register_guest_methods(lua_State* L, int idx) { register_methods(L, kVmGuestApi, idx); }

}  // namespace provium::lua
