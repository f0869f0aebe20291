// The File object (REFERENCE §5.7): an agent-side open file handle.
#include <fmt/format.h>

#include <lua.hpp>

#include "lua/context.hpp"
#include "lua/guest.hpp"
#include "lua/lab_vm.hpp"
#include "lua/support.hpp"

namespace provium::lua {
namespace {

using proto::Value;
constexpr const char* kFileMeta = "provium.File";

struct FileUd {
  std::shared_ptr<client::AgentClient> agent;
  std::int64_t handle = 0;
  std::string path;
  bool closed = false;
};

FileUd& check_file(lua_State* L, const char* method) {
  auto& f = *static_cast<FileUd*>(luaL_checkudata(L, 1, kFileMeta));
  if (f.closed && method) raise(L, fmt::format("file:{}: file is closed", method));
  return f;
}

Value handle_map(std::int64_t h) {
  proto::Map m;
  m["handle"] = Value{h};
  return Value{std::move(m)};
}

int file_read(lua_State* L) {
  auto& f = check_file(L, "read");
  auto n = luaL_checkinteger(L, 2);
  if (n < 0) raise(L, "file:read: n must not be negative");
  proto::Map m;
  m["handle"] = Value{f.handle};
  m["max_bytes"] = Value{static_cast<std::int64_t>(n)};
  Value v = call_op(L, f.agent, "read", Value{std::move(m)}, "file:read");
  std::string d = proto::bytes_field(v, "data");
  lua_pushlstring(L, d.data(), d.size());
  return 1;
}

int file_read_all(lua_State* L) {
  auto& f = check_file(L, "read_all");
  std::string all;
  while (true) {
    proto::Map m;
    m["handle"] = Value{f.handle};
    m["max_bytes"] = Value{static_cast<std::int64_t>(64 * 1024)};
    Value v = call_op(L, f.agent, "read", Value{std::move(m)}, "file:read_all");
    std::string d = proto::bytes_field(v, "data");
    if (d.empty()) break;
    all += d;
  }
  lua_pushlstring(L, all.data(), all.size());
  return 1;
}

int file_write(lua_State* L) {
  auto& f = check_file(L, "write");
  size_t len;
  const char* d = luaL_checklstring(L, 2, &len);
  proto::Map m;
  m["handle"] = Value{f.handle};
  m["data"] = Value{proto::Bytes{std::string(d, len)}};
  Value v = call_op(L, f.agent, "write", Value{std::move(m)}, "file:write");
  lua_pushinteger(L, proto::int_field(v, "written"));
  return 1;
}

int file_seek(lua_State* L) {
  auto& f = check_file(L, "seek");
  auto off = luaL_checkinteger(L, 2);
  std::string whence = luaL_optstring(L, 3, "set");
  if (whence != "set" && whence != "cur" && whence != "end")
    raise(L, fmt::format("seek: whence must be set/cur/end, got `{}`", whence));
  proto::Map m;
  m["handle"] = Value{f.handle};
  m["offset"] = Value{static_cast<std::int64_t>(off)};
  m["whence"] = Value{whence};
  lua_pushinteger(L, *call_op(L, f.agent, "seek", Value{std::move(m)}, "file:seek").as_int());
  return 1;
}

int file_tell(lua_State* L) {
  auto& f = check_file(L, "tell");
  proto::Map m;
  m["handle"] = Value{f.handle};
  m["offset"] = Value{static_cast<std::int64_t>(0)};
  m["whence"] = Value{"cur"};
  lua_pushinteger(L, *call_op(L, f.agent, "seek", Value{std::move(m)}, "file:tell").as_int());
  return 1;
}

int file_close(lua_State* L) {
  auto& f = check_file(L, nullptr);
  if (f.closed) return 0;
  f.closed = true;
  if (f.agent && f.agent->alive()) {
    try {
      f.agent->call("close", handle_map(f.handle));
    } catch (const std::exception&) {
    }
  }
  return 0;
}

int file_fd(lua_State* L) {
  auto& f = check_file(L, nullptr);
  lua_pushinteger(L, f.closed ? 0 : f.handle);
  return 1;
}

int file_tail_stream(lua_State* L) {
  auto& f = check_file(L, "tail_stream");
  std::shared_ptr<client::StreamChannel> ch;
  std::string err;
  try {
    ch = f.agent->open_stream("fd_stream", handle_map(f.handle), "file:tail_stream");
  } catch (const std::exception& e) {
    err = e.what();
  }
  if (!err.empty()) raise(L, err);
  push_stream(L, std::move(ch), "file_tail_stream", f.path);
  return 1;
}

int file_gc(lua_State* L) {
  static_cast<FileUd*>(lua_touserdata(L, 1))->~FileUd();
  return 0;
}

int vm_open_file(lua_State* L) {
  auto agent = guest_agent(L, "open_file");
  std::string path = luaL_checkstring(L, 2);
  Value payload = open_file_payload(L, path, 3, "vm:open_file");
  Value h = call_op(L, agent, "open_file", std::move(payload), "open_file");
  push_file(L, std::move(agent), *h.as_int(), path);
  return 1;
}

int vm_fd_stream(lua_State* L) {
  auto agent = guest_agent(L, "fd_stream");
  std::int64_t h = 0;
  std::string detail;
  if (auto* f = static_cast<FileUd*>(luaL_testudata(L, 2, kFileMeta))) {
    h = f->handle;
    detail = f->path;
  } else {
    h = luaL_checkinteger(L, 2);
    detail = std::to_string(h);
  }
  std::shared_ptr<client::StreamChannel> ch;
  std::string err;
  try {
    ch = agent->open_stream("fd_stream", handle_map(h), "fd_stream");
  } catch (const std::exception& e) {
    err = e.what();
  }
  if (!err.empty()) raise(L, err);
  push_stream(L, std::move(ch), "fd_stream", detail);
  return 1;
}

}  // namespace

Value open_file_payload(lua_State* L, const std::string& path, int mode_idx, const char* what) {
  luaL_checktype(L, mode_idx, LUA_TTABLE);
  static const std::pair<const char*, std::int64_t> bits[] = {
      {"read", 1}, {"write", 2}, {"create", 4}, {"truncate", 8}, {"append", 16}, {"exclusive", 32}};
  std::int64_t mode = 0;
  for (auto& [k, b] : bits) {
    lua_getfield(L, mode_idx, k);
    if (lua_toboolean(L, -1)) mode |= b;
    lua_pop(L, 1);
  }
  if (!(mode & (1 | 2 | 16)))
    raise(L, fmt::format("{}: mode needs at least one of read, write, append", what));
  proto::Map m;
  m["path"] = Value{path};
  m["mode"] = Value{mode};
  lua_getfield(L, mode_idx, "perm");
  if (lua_isinteger(L, -1))
    m["create_perm"] = Value{static_cast<std::int64_t>(lua_tointeger(L, -1))};
  lua_pop(L, 1);
  return Value{std::move(m)};
}

void push_file(lua_State* L, std::shared_ptr<client::AgentClient> agent, std::int64_t handle,
               std::string path) {
  auto* f = static_cast<FileUd*>(lua_newuserdatauv(L, sizeof(FileUd), 0));
  new (f) FileUd{std::move(agent), handle, std::move(path), false};
  luaL_setmetatable(L, kFileMeta);
  register_resource(L, -1, "file");
}

namespace {

constexpr Method kFileMethods[] = {
    {"read", guarded<file_read>, "n: integer", "string",
     "Reads up to `n` bytes; \"\" at end of file."},
    {"read_all", guarded<file_read_all>, "", "string",
     "Reads from the current position to end of file."},
    {"write", guarded<file_write>, "data: string", "integer",
     "Writes `data` at the current position; returns the bytes written."},
    {"seek", guarded<file_seek>, "off: integer, whence?: \"set\"|\"cur\"|\"end\"", "integer",
     "Moves the position (default from the start); returns the new offset."},
    {"tell", guarded<file_tell>, "", "integer", "The current position."},
    {"close", guarded<file_close>, "", "nil", "Closes the guest file handle."},
    {"fd", guarded<file_fd>, "", "integer", "The agent's handle for the file (0 once closed)."},
    {"tail_stream", guarded<file_tail_stream>, "", "Stream",
     "A stream of what is read from the file from now on."},
};

constexpr Method kVmFileMethods[] = {
    {"open_file", guarded<vm_open_file>,
     "path: string, mode: {read?: boolean, write?: boolean, create?: boolean, truncate?: boolean, "
     "append?: boolean, exclusive?: boolean, perm?: integer}",
     "File", "Opens a file in the guest and keeps it open as a File."},
    {"fd_stream", guarded<vm_fd_stream>, "fd: File|integer", "Stream",
     "A stream of what is read from a guest file handle."},
};

}  // namespace

const TypeDecl kFileApi = declare_type("File", kFileMeta, kFileMethods);
const TypeDecl kVmFileApi = declare_type("Vm", kVmMeta, kVmFileMethods);

void register_file(lua_State* L, int vm_methods_idx) {
  new_meta(L, kFileApi, file_gc);
  register_methods(L, kVmFileApi, vm_methods_idx);
}

}  // namespace provium::lua
