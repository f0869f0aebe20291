// Shared by the guest-operation binding files: reaching a booted VM's agent, turning OpResults
// into Lua errors, and building agent payloads from Lua arguments.
#pragma once

#include <memory>
#include <string>

#include "client/agent_client.hpp"
#include "lab/vm.hpp"
#include "proto/value.hpp"

struct lua_State;

namespace provium::lua {

/// The agent of the VM at stack index 1 after the state check for a guest operation named
/// `method` ("read_file"); raises `vm:<method>: VM not booted` and friends.
std::shared_ptr<client::AgentClient> guest_agent(lua_State* L, const char* method);

/// An interrupt check bound to the running file (timeouts, Ctrl-C).
client::InterruptCheck interrupt_check(lua_State* L);

/// Sends `kind` and returns the ok value; raises `<method>: <message> (errno N)` or the agent
/// error. `method` names the Lua method for messages.
proto::Value call_op(lua_State* L, const std::shared_ptr<client::AgentClient>& agent, const std::string& kind,
                     proto::Value payload, const std::string& method, client::Reply* raw = nullptr);

/// ExecArgs from the Lua argument forms of vm:run / run_async starting at `idx` (REFERENCE §5.4).
/// `allow_timeout` is false for run_async.
proto::Value exec_args(lua_State* L, int idx, const char* method, bool allow_timeout);

/// Pushes a RunResult table (exit_code, stdout, stderr, status, signal, timed_out, ok, assert_ok).
void push_run_result(lua_State* L, const proto::Value& exec_ok, const std::string& stdout_prefix,
                     const std::string& stderr_prefix);

/// Pushes the tables vm:stat / vm:listdir return, from the agent's ok values.
void push_stat(lua_State* L, const proto::Value& v);
void push_listdir(lua_State* L, const proto::Value& v);

/// Pushes a Stream userdata over an open agent stream; registers it with the current scope.
void push_stream(lua_State* L, std::shared_ptr<client::StreamChannel> ch, std::string kind, std::string detail);

/// The syscall payload from `nr` at `idx` and either up to six integers or an options table
/// after it (REFERENCE §5.4), and the table vm:syscall returns from the agent's reply.
proto::Value syscall_payload(lua_State* L, int idx);
void push_syscall_result(lua_State* L, const proto::Value& reply);

/// Pushes a Process (run_async) / File (open_file) over an agent handle; registers it with the
/// current scope. Handles may be relayed ones (a worker's): their ops go through the agent.
void push_process(lua_State* L, std::shared_ptr<client::AgentClient> agent, std::int64_t handle);
void push_file(lua_State* L, std::shared_ptr<client::AgentClient> agent, std::int64_t handle,
               std::string path);
/// The open_file payload from a path and the mode table at `mode_idx`; `what` names the method.
proto::Value open_file_payload(lua_State* L, const std::string& path, int mode_idx,
                               const char* what);

/// Signal numbers from names ("term", "SIGKILL", "9").
int parse_signal(lua_State* L, int idx, const char* method, int dflt);

void register_guest_objects(lua_State* L);  // RunResult, Process, Stream, File, Clock metatables
void register_guest_methods(lua_State* L, int vm_methods_idx);  // vm:run, read_file, ...
void register_vm_object_methods(lua_State* L, int vm_methods_idx);  // vm:clock, vm:run_async
void register_file(lua_State* L, int vm_methods_idx);  // file.cpp: vm:open_file, vm:fd_stream
void register_batch(lua_State* L, int vm_methods_idx);  // batch.cpp: vm:batch
void register_worker(lua_State* L, int vm_methods_idx);  // worker.cpp: vm:spawn_worker, Worker
void register_guest_raw(lua_State* L, int vm_methods_idx);  // guest_raw.cpp: ioctl, syscall_async, ...

}  // namespace provium::lua
