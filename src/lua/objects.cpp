// Objects returned by guest operations: RunResult, Process (run_async), Stream, File, Clock
// (REFERENCE §5.5-5.10). Closable ones register with the current scope for teardown.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstring>
#include <lua.hpp>

#include "client/stream_reader.hpp"
#include "lua/context.hpp"
#include "lua/guest.hpp"
#include "lua/lab_vm.hpp"
#include "lua/support.hpp"

namespace provium::lua {

using proto::Value;

namespace {

constexpr const char* kRunResultMeta = "provium.RunResult";
constexpr const char* kProcessMeta = "provium.Process";
constexpr const char* kStreamMeta = "provium.Stream";

const char* signal_name(int sig) {
  const char* n = sigabbrev_np(sig);
  return n ? n : "?";
}

// ---- RunResult --------------------------------------------------------------------------

int rr_ok(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "status");
  lua_getfield(L, 1, "exit_code");
  bool ok = lua_isstring(L, -2) && std::string(lua_tostring(L, -2)) == "exited" &&
            lua_tointeger(L, -1) == 0;
  lua_pushboolean(L, ok);
  return 1;
}

int rr_assert_ok(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  rr_ok(L);
  if (lua_toboolean(L, -1)) {
    lua_settop(L, 1);
    return 1;
  }
  lua_getfield(L, 1, "status");
  std::string status = lua_tostring(L, -1) ? lua_tostring(L, -1) : "?";
  lua_getfield(L, 1, "exit_code");
  auto code = lua_tointeger(L, -1);
  lua_getfield(L, 1, "signal");
  std::string how =
      status == "signalled"
          ? fmt::format("signalled ({})", signal_name(static_cast<int>(lua_tointeger(L, -1))))
      : status == "timed_out" ? std::string("timed out")
                              : fmt::format("exit code {}", code);
  lua_getfield(L, 1, "stdout");
  lua_getfield(L, 1, "stderr");
  std::string msg = lua_isstring(L, 2) ? std::string(lua_tostring(L, 2)) + ": " : "";
  msg += fmt::format("command failed: {} (status {})\nstdout:\n{}\nstderr:\n{}", how, status,
                     lua_tostring(L, -2) ? lua_tostring(L, -2) : "",
                     lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
  raise(L, msg);
}

// ---- Stream -----------------------------------------------------------------------------

struct StreamUd {
  client::StreamReader reader;
  std::string kind, detail, site_file;
  int site_line = 0;
};

StreamUd& check_stream(lua_State* L) {
  return *static_cast<StreamUd*>(luaL_checkudata(L, 1, kStreamMeta));
}

int stream_gc(lua_State* L) {
  static_cast<StreamUd*>(lua_touserdata(L, 1))->~StreamUd();
  return 0;
}

std::chrono::milliseconds timeout_arg(lua_State* L, int idx, double dflt, const char* what) {
  double secs = lua_isnoneornil(L, idx) ? dflt : check_duration(L, idx, what);
  return std::chrono::milliseconds(static_cast<long long>(secs * 1000));
}

// Runs a read; an interrupted wait raises the interrupt's own message (a timeout's), other
// failures raise their text.
template <typename F>
void reading(lua_State* L, F f) {
  std::string err;
  bool interrupted = false;
  try {
    f(interrupt_check(L));
    return;
  } catch (const client::Interrupted& e) {
    err = e.what();
    interrupted = true;
  } catch (const std::exception& e) {
    err = e.what();
  }
  if (!interrupted) raise(L, err);
  lua_pushstring(L, err.c_str());
  lua_error(L);
}

int stream_next(lua_State* L) {
  auto& s = check_stream(L);
  auto t = timeout_arg(L, 2, 10, "stream:next: timeout");
  std::optional<std::string> c;
  reading(L, [&](auto intr) { c = s.reader.next(t, intr); });
  if (!c || c->empty()) return lua_pushnil(L), 1;
  lua_pushlstring(L, c->data(), c->size());
  return 1;
}

int stream_read_until_impl(lua_State* L, bool keep) {
  auto& s = check_stream(L);
  size_t nlen;
  const char* n = luaL_checklstring(L, 2, &nlen);
  auto t = timeout_arg(L, 3, 10, "stream:read_until: timeout");
  std::string out;
  reading(L, [&](auto intr) { out = s.reader.read_until(std::string(n, nlen), t, intr); });
  if (!keep) return 0;
  lua_pushlstring(L, out.data(), out.size());
  return 1;
}
int stream_read_until(lua_State* L) { return stream_read_until_impl(L, true); }
int stream_expect(lua_State* L) { return stream_read_until_impl(L, false); }

int stream_drain(lua_State* L) {
  auto& s = check_stream(L);
  auto t = timeout_arg(L, 2, 0.5, "stream:drain: timeout");
  std::vector<std::string> chunks;
  reading(L, [&](auto intr) { chunks = s.reader.drain(t, intr); });
  lua_createtable(L, static_cast<int>(chunks.size()), 0);
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    lua_pushlstring(L, chunks[i].data(), chunks[i].size());
    lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
  }
  return 1;
}

int stream_close(lua_State* L) {
  check_stream(L).reader.close();
  return 0;
}

int stream_eof(lua_State* L) {
  lua_pushboolean(L, check_stream(L).reader.eof());
  return 1;
}

int stream_creation_site(lua_State* L) {
  auto& s = check_stream(L);
  if (s.site_file.empty()) return lua_pushnil(L), 1;
  lua_createtable(L, 0, 2);
  lua_pushstring(L, s.site_file.c_str());
  lua_setfield(L, -2, "file");
  lua_pushinteger(L, s.site_line);
  lua_setfield(L, -2, "line");
  return 1;
}

int stream_tostring(lua_State* L) {
  auto& s = check_stream(L);
  lua_pushstring(L, fmt::format("stream({}(\"{}\"))", s.kind, s.detail).c_str());
  return 1;
}

// ---- Process ------------------------------------------------------------------------------

struct ProcessUd {
  std::shared_ptr<client::AgentClient> agent;
  std::int64_t handle = 0;
  bool consumed = false;
  bool closed = false;
};

ProcessUd& check_proc(lua_State* L) {
  return *static_cast<ProcessUd*>(luaL_checkudata(L, 1, kProcessMeta));
}

int proc_gc(lua_State* L) {
  static_cast<ProcessUd*>(lua_touserdata(L, 1))->~ProcessUd();
  return 0;
}

Value handle_payload(std::int64_t h) {
  proto::Map m;
  m["handle"] = Value{h};
  return Value{std::move(m)};
}

void check_live(lua_State* L, ProcessUd& p, const char* method) {
  if (p.consumed)
    raise(L,
          fmt::format(
              "proc:{}: the process handle was consumed by wait(); its result was already returned",
              method));
}

int proc_wait(lua_State* L) {
  auto& p = check_proc(L);
  check_live(L, p, "wait");
  proto::Map m;
  m["handle"] = Value{p.handle};
  if (!lua_isnoneornil(L, 2)) {
    double secs = check_duration(L, 2, "proc:wait: timeout");
    if (secs == 0) raise(L, "proc:wait: timeout 0 would never wait; use proc:status() to poll");
    m["timeout_ms"] = Value{static_cast<std::int64_t>(secs * 1000)};
  }
  client::Reply raw;
  Value ok = call_op(L, p.agent, "wait", Value{std::move(m)}, "proc:wait", &raw);
  p.consumed = true;
  push_run_result(L, ok, raw.stdout_prefix, raw.stderr_prefix);
  return 1;
}

int proc_kill(lua_State* L) {
  auto& p = check_proc(L);
  check_live(L, p, "kill");
  int sig = parse_signal(L, 2, "proc:kill", SIGTERM);
  proto::Map m;
  m["handle"] = Value{p.handle};
  m["signal"] = Value{static_cast<std::int64_t>(sig)};
  call_op(L, p.agent, "kill", Value{std::move(m)}, "proc:kill");
  return 0;
}

int proc_pid(lua_State* L) {
  auto& p = check_proc(L);
  check_live(L, p, "pid");
  lua_pushinteger(L,
                  *call_op(L, p.agent, "get_pid", handle_payload(p.handle), "proc:pid").as_int());
  return 1;
}

int proc_handle(lua_State* L) {
  lua_pushinteger(L, check_proc(L).handle);
  return 1;
}

int proc_status(lua_State* L) {
  auto& p = check_proc(L);
  if (p.consumed) return lua_pushstring(L, "exited"), 1;
  Value v = call_op(L, p.agent, "proc_status", handle_payload(p.handle), "proc:status");
  lua_pushstring(L, v.as_string() ? v.as_string()->c_str() : "unknown");
  return 1;
}

int proc_stdin_write(lua_State* L) {
  auto& p = check_proc(L);
  check_live(L, p, "stdin_write");
  size_t len;
  const char* d = luaL_checklstring(L, 2, &len);
  proto::Map m;
  m["handle"] = Value{p.handle};
  m["data"] = Value{proto::Bytes{std::string(d, len)}};
  Value v = call_op(L, p.agent, "proc_stdin_write", Value{std::move(m)}, "proc:stdin_write");
  lua_pushinteger(L, proto::int_field(v, "written"));
  return 1;
}

int proc_close_stdin(lua_State* L) {
  auto& p = check_proc(L);
  check_live(L, p, "close_stdin");
  call_op(L, p.agent, "proc_stdin_close", handle_payload(p.handle), "proc:close_stdin");
  return 0;
}

int proc_stream(lua_State* L, const char* channel) {
  auto& p = check_proc(L);
  check_live(L, p, channel);
  proto::Map m;
  m["handle"] = Value{p.handle};
  m["channel"] = Value{channel};
  std::shared_ptr<client::StreamChannel> ch;
  std::string err;
  try {
    ch = p.agent->open_stream("proc_stream", Value{std::move(m)},
                              fmt::format("proc:{}_stream", channel));
  } catch (const std::exception& e) {
    err = e.what();
  }
  if (!err.empty()) raise(L, err);
  push_stream(L, std::move(ch), fmt::format("proc_{}_stream", channel), std::to_string(p.handle));
  return 1;
}
int proc_stdout_stream(lua_State* L) { return proc_stream(L, "stdout"); }
int proc_stderr_stream(lua_State* L) { return proc_stream(L, "stderr"); }

// Scope teardown: SIGTERM, wait up to 2 s, then SIGKILL (the agent's wait timeout does that).
int proc_close(lua_State* L) {
  auto& p = check_proc(L);
  if (p.consumed || p.closed || !p.agent || !p.agent->alive()) return 0;
  p.closed = true;
  try {
    proto::Map k;
    k["handle"] = Value{p.handle};
    k["signal"] = Value{static_cast<std::int64_t>(SIGTERM)};
    p.agent->call("kill", Value{std::move(k)});
    proto::Map w;
    w["handle"] = Value{p.handle};
    w["timeout_ms"] = Value{static_cast<std::int64_t>(2000)};
    p.agent->call("wait", Value{std::move(w)});
  } catch (const std::exception&) {
  }
  p.consumed = true;
  return 0;
}

// ---- Clock ----------------------------------------------------------------------------------

constexpr const char* kClockMeta = "provium.Clock";

std::shared_ptr<lab::Vm>& clock_vm(lua_State* L) {
  return *static_cast<std::shared_ptr<lab::Vm>*>(luaL_checkudata(L, 1, kClockMeta));
}

std::shared_ptr<client::AgentClient> clock_agent(lua_State* L, const char* method) {
  auto vm = clock_vm(L);
  if (auto r = vm->refusal(lab::VmOp::GuestOp)) raise(L, fmt::format("clock:{}: {}", method, *r));
  return vm->machine()->agent();
}

std::int64_t finite_ns(lua_State* L, int idx, const char* what) {
  if (lua_isinteger(L, idx)) return lua_tointeger(L, idx) * 1000000000;
  double v = luaL_checknumber(L, idx);
  if (!std::isfinite(v))
    raise(L, fmt::format("{}: value must be a finite number (got {})", what,
                         std::isnan(v) ? "NaN" : "inf"));
  return static_cast<std::int64_t>(v * 1e9);
}

int clock_get_ns(lua_State* L) {
  auto a = clock_agent(L, "get_ns");
  lua_pushinteger(
      L, proto::int_field(call_op(L, a, "get_time", Value{proto::Map{}}, "clock:get_ns"), "ns"));
  return 1;
}
int clock_get(lua_State* L) {
  auto a = clock_agent(L, "get");
  auto ns = proto::int_field(call_op(L, a, "get_time", Value{proto::Map{}}, "clock:get"), "ns");
  lua_pushnumber(L, static_cast<double>(ns) / 1e9);
  return 1;
}
// A local sandbox's wall clock is the host's (a time namespace virtualises only the monotonic
// and boot clocks), so changing it is refused here rather than denied inside the guest.
void refuse_shared_clock(lua_State* L, const char* what) {
  auto vm = clock_vm(L);
  if (vm->machine() && vm->machine()->shares_host_clock())
    raise(L, fmt::format("clock:{}: the {} backend shares the host's clock; use --vmm qemu to "
                         "change a guest clock",
                         what, vm->machine()->backend_name()));
}

int clock_set_common(lua_State* L, std::int64_t ns, const char* what) {
  refuse_shared_clock(L, what);
  auto a = clock_agent(L, what);
  proto::Map m;
  m["ns"] = Value{ns};
  call_op(L, a, "set_time", Value{std::move(m)}, fmt::format("clock:{}", what));
  return 0;
}
int clock_set(lua_State* L) { return clock_set_common(L, finite_ns(L, 2, "clock:set"), "set"); }
int clock_set_ns(lua_State* L) { return clock_set_common(L, luaL_checkinteger(L, 2), "set_ns"); }
int clock_advance(lua_State* L) {
  refuse_shared_clock(L, "advance");
  auto a = clock_agent(L, "advance");
  std::int64_t ns;
  if (lua_type(L, 2) == LUA_TSTRING) {
    std::string s = lua_tostring(L, 2);
    bool neg = !s.empty() && s[0] == '-';
    lua_pushstring(L, neg ? s.substr(1).c_str() : s.c_str());
    ns = static_cast<std::int64_t>(check_duration(L, -1, "clock:advance") * 1e9) * (neg ? -1 : 1);
  } else {
    ns = finite_ns(L, 2, "clock:advance");
  }
  proto::Map m;
  m["ns"] = Value{ns};
  call_op(L, a, "advance_clock", Value{std::move(m)}, "clock:advance");
  return 0;
}
int clock_sleep(lua_State* L) {
  auto a = clock_agent(L, "sleep");
  double secs = check_duration(L, 2, "clock:sleep");
  proto::Map m;
  m["ns"] = Value{static_cast<std::int64_t>(secs * 1e9)};
  call_op(L, a, "sleep_clock", Value{std::move(m)}, "clock:sleep");
  return 0;
}

int vm_clock(lua_State* L) {
  auto& vm = check_shared<lab::Vm>(L, 1, kVmMeta, "vm:clock");
  void* mem = lua_newuserdatauv(L, sizeof(std::shared_ptr<lab::Vm>), 0);
  new (mem) std::shared_ptr<lab::Vm>(vm);
  luaL_setmetatable(L, kClockMeta);
  return 1;
}

int vm_run_async(lua_State* L) {
  auto agent = guest_agent(L, "run_async");
  Value args = exec_args(L, 2, "run_async", false);
  Value v = call_op(L, agent, "run_async", std::move(args), "run_async");
  push_process(L, std::move(agent), *v.as_int());
  return 1;
}

}  // namespace

int parse_signal(lua_State* L, int idx, const char* method, int dflt) {
  if (lua_isnoneornil(L, idx)) return dflt;
  if (lua_isinteger(L, idx)) return static_cast<int>(lua_tointeger(L, idx));
  std::string s = luaL_checkstring(L, idx);
  std::string low;
  for (char c : s) low += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!low.empty() && std::all_of(low.begin(), low.end(), ::isdigit)) return std::stoi(low);
  if (low.starts_with("sig")) low = low.substr(3);
  static const std::pair<const char*, int> names[] = {
      {"term", SIGTERM},  {"kill", SIGKILL}, {"int", SIGINT},   {"hup", SIGHUP},
      {"quit", SIGQUIT},  {"stop", SIGSTOP}, {"cont", SIGCONT}, {"usr1", SIGUSR1},
      {"usr2", SIGUSR2},  {"alrm", SIGALRM}, {"pipe", SIGPIPE}, {"chld", SIGCHLD},
      {"winch", SIGWINCH}};
  for (auto& [n, v] : names)
    if (low == n) return v;
  raise(L, fmt::format("{}: unknown signal name `{}`", method, s));
}

void push_process(lua_State* L, std::shared_ptr<client::AgentClient> agent, std::int64_t handle) {
  auto* p = static_cast<ProcessUd*>(lua_newuserdatauv(L, sizeof(ProcessUd), 0));
  new (p) ProcessUd{std::move(agent), handle, false, false};
  luaL_setmetatable(L, kProcessMeta);
  register_resource(L, -1, "process");
}

void push_run_result(lua_State* L, const Value& ok, const std::string& out_prefix,
                     const std::string& err_prefix) {
  auto& status = proto::field(ok, "status");
  std::string kind = proto::str_field(status, "kind");
  lua_createtable(L, 0, 7);
  std::string out = out_prefix + proto::bytes_field(ok, "stdout");
  std::string err = err_prefix + proto::bytes_field(ok, "stderr");
  lua_pushlstring(L, out.data(), out.size());
  lua_setfield(L, -2, "stdout");
  lua_pushlstring(L, err.data(), err.size());
  lua_setfield(L, -2, "stderr");
  lua_pushstring(L, kind.c_str());
  lua_setfield(L, -2, "status");
  std::int64_t code = kind == "exited"      ? proto::int_field(status, "value")
                      : kind == "signalled" ? -1
                                            : -2;
  lua_pushinteger(L, code);
  lua_setfield(L, -2, "exit_code");
  if (kind == "signalled") {
    lua_pushinteger(L, proto::int_field(status, "value"));
    lua_setfield(L, -2, "signal");
  }
  lua_pushboolean(L, kind == "timed_out");
  lua_setfield(L, -2, "timed_out");
  luaL_setmetatable(L, kRunResultMeta);
}

void push_stream(lua_State* L, std::shared_ptr<client::StreamChannel> ch, std::string kind,
                 std::string detail) {
  auto* s = static_cast<StreamUd*>(lua_newuserdatauv(L, sizeof(StreamUd), 0));
  new (s) StreamUd{client::StreamReader(ch), std::move(kind), std::move(detail), {}, 0};
  // Creation site: the first *.test.lua / *.fixture.lua frame on the stack, else the caller.
  lua_Debug ar;
  for (int level = 1; lua_getstack(L, level, &ar); ++level) {
    lua_getinfo(L, "Sl", &ar);
    if (ar.source[0] != '@') continue;
    std::string src = ar.source + 1;
    bool test_file = src.ends_with(".test.lua") || src.ends_with(".fixture.lua");
    if (s->site_file.empty() || test_file) {
      s->site_file = src;
      s->site_line = ar.currentline;
    }
    if (test_file) break;
  }
  if (ch)
    ch->label = fmt::format("{}(\"{}\") at {}:{}", s->kind, s->detail, s->site_file, s->site_line);
  luaL_setmetatable(L, kStreamMeta);
  register_resource(L, -1, "stream");
}

namespace {

constexpr Method kRunResultMethods[] = {
    {"ok", guarded<rr_ok>, "", "boolean", "True when the command exited with status 0."},
    {"assert_ok", guarded<rr_assert_ok>, "msg?: string", "RunResult",
     "Raises (with the output) unless the command exited 0; returns the result otherwise."},
};

constexpr Method kStreamMethods[] = {
    {"next", guarded<stream_next>, "timeout?: Duration", "string|nil",
     "The next chunk of data; nil when none arrives within the timeout (default 10 s)."},
    {"read_until", guarded<stream_read_until>, "needle: string, timeout?: Duration", "string",
     "Reads up to and including `needle` and returns it; raises on timeout or end of stream."},
    {"expect", guarded<stream_expect>, "needle: string, timeout?: Duration", "nil",
     "Consumes data up to and including `needle`; raises on timeout or end of stream."},
    {"drain", guarded<stream_drain>, "timeout?: Duration", "string[]",
     "Every chunk that arrives until the stream goes quiet (default 0.5 s)."},
    {"close", guarded<stream_close>, "", "nil", "Stops the stream and drops unread data."},
    {"eof", guarded<stream_eof>, "", "boolean",
     "True once the source ended and all data was read."},
    {"creation_site", guarded<stream_creation_site>, "", "{file: string, line: integer}|nil",
     "Where in the test files the stream was opened."},
};

constexpr Method kProcessMethods[] = {
    {"wait", guarded<proc_wait>, "timeout?: Duration", "RunResult",
     "Waits for the process to end and returns its result; the handle is consumed."},
    {"kill", guarded<proc_kill>, "sig?: integer|string", "nil",
     "Sends a signal (default SIGTERM) by number or name."},
    {"signal", guarded<proc_kill>, "sig: integer|string", "nil",
     "Sends a signal by number or name (\"TERM\", \"SIGKILL\", 9)."},
    {"pid", guarded<proc_pid>, "", "integer", "The process id inside the guest."},
    {"handle", guarded<proc_handle>, "", "integer", "The agent's handle for the process."},
    {"status", guarded<proc_status>, "", "\"running\"|\"exited\"|\"unknown\"",
     "Whether the process is still running, without waiting."},
    {"stdin_write", guarded<proc_stdin_write>, "data: string", "integer",
     "Writes to the process's stdin; returns the bytes written."},
    {"close_stdin", guarded<proc_close_stdin>, "", "nil", "Closes the process's stdin (EOF)."},
    {"stdout_stream", guarded<proc_stdout_stream>, "", "Stream",
     "A stream of the process's stdout as it is written."},
    {"stderr_stream", guarded<proc_stderr_stream>, "", "Stream",
     "A stream of the process's stderr as it is written."},
    {"close", guarded<proc_close>, "", "nil",
     "Ends the process (SIGTERM, then SIGKILL after 2 s) unless it was waited for."},
};

constexpr Method kClockMethods[] = {
    {"get", guarded<clock_get>, "", "number", "The guest's wall clock in seconds since the epoch."},
    {"get_ns", guarded<clock_get_ns>, "", "integer",
     "The guest's wall clock in nanoseconds since the epoch."},
    {"set", guarded<clock_set>, "sec: number", "nil",
     "Sets the guest's wall clock to `sec` seconds since the epoch."},
    {"set_ns", guarded<clock_set_ns>, "ns: integer", "nil",
     "Sets the guest's wall clock to `ns` nanoseconds since the epoch."},
    {"advance", guarded<clock_advance>, "d: Duration", "nil",
     "Moves the guest's wall clock by `d` (a leading \"-\" moves it back)."},
    {"sleep", guarded<clock_sleep>, "d: Duration", "nil", "Sleeps for `d` inside the guest."},
};

constexpr Method kVmObjectMethods[] = {
    {"clock", guarded<vm_clock>, "", "Clock", "The guest's clock."},
    {"run_async", guarded<vm_run_async>, "cmd: string|string[], args_or_opts?: string[]|table",
     "Process", "Starts a command in the guest without waiting for it."},
};

}  // namespace

const TypeDecl kRunResultApi = declare_type("RunResult", kRunResultMeta, kRunResultMethods);
const TypeDecl kStreamApi = declare_type("Stream", kStreamMeta, kStreamMethods);
const TypeDecl kProcessApi = declare_type("Process", kProcessMeta, kProcessMethods);
const TypeDecl kClockApi = declare_type("Clock", kClockMeta, kClockMethods);
const TypeDecl kVmObjectsApi = declare_type("Vm", kVmMeta, kVmObjectMethods);

void register_guest_objects(lua_State* L) {
  new_meta(L, kRunResultApi, nullptr, nullptr);
  new_meta(L, kStreamApi, stream_gc, guarded<stream_tostring>);
  new_meta(L, kProcessApi, proc_gc, nullptr);
  new_meta(L, kClockApi, gc_shared<lab::Vm>, nullptr);
}

void register_vm_object_methods(lua_State* L, int idx) { register_methods(L, kVmObjectsApi, idx); }

}  // namespace provium::lua
