// vm:batch(fn) (REFERENCE §5.17): `fn(b)` queues operations on `b`; they travel as one
// batch_op request and come back as one {ok=value} or {err="msg"} per operation, in order.
#include "client/batch.hpp"

#include <fmt/format.h>

#include <lua.hpp>

#include "lua/context.hpp"
#include "lua/guest.hpp"
#include "lua/lab_vm.hpp"
#include "lua/support.hpp"

namespace provium::lua {
namespace {

using proto::Value;
constexpr const char* kBatchMeta = "provium.Batch";

struct Item {
  std::string kind, method;
  Value payload;
};
struct BatchUd {
  std::vector<Item> items;
  bool sealed = false;
};

BatchUd& check_batch(lua_State* L) {
  auto& b = *static_cast<BatchUd*>(luaL_checkudata(L, 1, kBatchMeta));
  if (b.sealed)
    raise(L, "batch: the batch was already sent; queue operations inside the batch function");
  return b;
}

Value path_payload(lua_State* L, int idx, const char* key = "path") {
  proto::Map m;
  m[key] = Value{std::string(luaL_checkstring(L, idx))};
  return Value{std::move(m)};
}

int q_run(lua_State* L) {
  auto& b = check_batch(L);
  b.items.push_back({"exec", "run", exec_args(L, 2, "batch.run", true)});
  return 0;
}
int q_read_file(lua_State* L) {
  check_batch(L).items.push_back({"read_file", "read_file", path_payload(L, 2)});
  return 0;
}
int q_write_file(lua_State* L) {
  auto& b = check_batch(L);
  size_t len;
  const char* d = luaL_checklstring(L, 3, &len);
  proto::Map m;
  m["path"] = Value{std::string(luaL_checkstring(L, 2))};
  m["data"] = Value{proto::Bytes{std::string(d, len)}};
  b.items.push_back({"write_file", "write_file", Value{std::move(m)}});
  return 0;
}
int q_stat(lua_State* L) {
  check_batch(L).items.push_back({"stat", "stat", path_payload(L, 2)});
  return 0;
}
int q_listdir(lua_State* L) {
  check_batch(L).items.push_back({"listdir", "listdir", path_payload(L, 2)});
  return 0;
}
int q_mkdir(lua_State* L) {
  auto& b = check_batch(L);
  proto::Map m;
  m["path"] = Value{std::string(luaL_checkstring(L, 2))};
  bool parents = false;
  if (lua_istable(L, 3)) {
    lua_getfield(L, 3, "parents");
    parents = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  m["parents"] = Value{parents};
  b.items.push_back({"mkdir", "mkdir", Value{std::move(m)}});
  return 0;
}
int q_unlink(lua_State* L) {
  check_batch(L).items.push_back({"unlink", "unlink", path_payload(L, 2)});
  return 0;
}
int q_rename(lua_State* L) {
  auto& b = check_batch(L);
  proto::Map m;
  m["from"] = Value{std::string(luaL_checkstring(L, 2))};
  m["to"] = Value{std::string(luaL_checkstring(L, 3))};
  b.items.push_back({"rename", "rename", Value{std::move(m)}});
  return 0;
}
int q_syscall(lua_State* L) {
  auto& b = check_batch(L);
  if (lua_istable(L, 3)) raise(L, "batch.syscall: only the integer form is allowed in a batch");
  proto::Map m;
  m["nr"] = Value{static_cast<std::int64_t>(luaL_checkinteger(L, 2))};
  proto::Array args;
  for (int i = 3; i <= std::min(lua_gettop(L), 8); ++i)
    args.emplace_back(static_cast<std::int64_t>(luaL_checkinteger(L, i)));
  m["args"] = Value{std::move(args)};
  b.items.push_back({"syscall", "syscall", Value{std::move(m)}});
  return 0;
}

// Pushes the Lua value of one successful reply, shaped like the direct call's result.
void push_ok_value(lua_State* L, const Item& it, const Value& reply_payload) {
  if (it.kind == "syscall") {
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, proto::int_field(reply_payload, "ret"));
    lua_setfield(L, -2, "ret");
    lua_pushinteger(L, proto::int_field(reply_payload, "ret"));
    lua_setfield(L, -2, "result");
    lua_pushinteger(L, proto::int_field_or(reply_payload, "errno", 0));
    lua_setfield(L, -2, "errno");
    return;
  }
  const Value* vp = proto::opt_field(reply_payload, "value");
  Value v = vp ? *vp : Value{};
  if (it.kind == "exec") {
    push_run_result(L, v, "", "");
  } else if (it.kind == "read_file") {
    std::string d = proto::bytes_field(v, "data");
    lua_pushlstring(L, d.data(), d.size());
  } else if (it.kind == "stat") {
    push_stat(L, v);
  } else if (it.kind == "listdir") {
    push_listdir(L, v);
  } else {
    lua_pushnil(L);
  }
}

int batch_gc(lua_State* L) {
  static_cast<BatchUd*>(lua_touserdata(L, 1))->~BatchUd();
  return 0;
}

int vm_batch(lua_State* L) {
  auto agent = guest_agent(L, "batch");
  luaL_checktype(L, 2, LUA_TFUNCTION);
  auto* b = static_cast<BatchUd*>(lua_newuserdatauv(L, sizeof(BatchUd), 0));
  new (b) BatchUd{};
  luaL_setmetatable(L, kBatchMeta);
  int b_idx = lua_gettop(L);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, b_idx);
  lua_call(L, 1, 0);
  b->sealed = true;
  std::vector<client::BatchItem> items;
  for (auto& it : b->items) items.push_back({it.kind, it.payload});
  Value reply = call_op(L, agent, "batch_op", client::batch_payload(items), "batch");
  std::vector<client::BatchAnswer> answers;
  std::string malformed;
  try {
    answers = client::batch_answers(reply, b->items.size());
  } catch (const std::runtime_error& e) {
    malformed = e.what();  // raised outside the handler: a Lua error must not unwind through it
  }
  if (!malformed.empty()) raise(L, fmt::format("vm:batch: agent returned a {}", malformed));
  lua_createtable(L, static_cast<int>(answers.size()), 0);
  for (size_t i = 0; i < answers.size(); ++i) {
    const Item& it = b->items[i];
    const Value* payload = answers[i].payload;
    lua_createtable(L, 0, 1);
    if (!payload) {
      lua_pushstring(L, fmt::format("{}: agent: {}", it.method, answers[i].agent_error).c_str());
      lua_setfield(L, -2, "err");
    } else if (it.kind != "syscall" && client::op_error(*payload, it.method)) {
      lua_pushstring(L, client::op_error(*payload, it.method)->c_str());
      lua_setfield(L, -2, "err");
    } else {
      push_ok_value(L, it, *payload);
      lua_setfield(L, -2, "ok");
    }
    lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
  }
  return 1;
}

constexpr Method kBatchMethods[] = {
    {"run", guarded<q_run>, "cmd: string|string[], args_or_opts?: string[]|table", "nil",
     "Queues vm:run(cmd, ...); its RunResult comes back as the answer's `ok`."},
    {"read_file", guarded<q_read_file>, "path: string", "nil", "Queues vm:read_file(path)."},
    {"write_file", guarded<q_write_file>, "path: string, data: string", "nil",
     "Queues vm:write_file(path, data)."},
    {"stat", guarded<q_stat>, "path: string", "nil", "Queues vm:stat(path)."},
    {"listdir", guarded<q_listdir>, "path: string", "nil", "Queues vm:listdir(path)."},
    {"mkdir", guarded<q_mkdir>, "path: string, opts?: {parents?: boolean}", "nil",
     "Queues vm:mkdir(path, opts)."},
    {"unlink", guarded<q_unlink>, "path: string", "nil", "Queues vm:unlink(path)."},
    {"rename", guarded<q_rename>, "from: string, to: string", "nil", "Queues vm:rename(from, to)."},
    {"syscall", guarded<q_syscall>, "nr: integer, ...: integer", "nil",
     "Queues vm:syscall(nr, ...) (integer arguments only)."},
};

constexpr Method kVmBatchMethods[] = {
    {"batch", guarded<vm_batch>, "fn: fun(b: Batch)", "{ok?: any, err?: string}[]",
     "Runs the operations `fn` queues on `b` in one round trip; one {ok=} or {err=} each."},
};

}  // namespace

const TypeDecl kBatchApi = declare_type("Batch", kBatchMeta, kBatchMethods);
const TypeDecl kVmBatchApi = declare_type("Vm", kVmMeta, kVmBatchMethods);

void register_batch(lua_State* L, int vm_methods_idx) {
  vm_methods_idx = lua_absindex(L, vm_methods_idx);
  new_meta(L, kBatchApi, batch_gc);
  register_methods(L, kVmBatchApi, vm_methods_idx);
}

}  // namespace provium::lua
