// The main agent's worker registry (REFERENCE §6.10) and the relay helpers shared by the
// worker ops (ops_worker.cpp) and the relayed handle ops (worker_relay.cpp).
//
// A worker has its own handle table. Handles it returns (processes from run_async, files from
// open_file) and pending async syscalls get a main-agent handle from the one State counter,
// mapped here to (worker, worker-side handle); every later op naming such a handle is relayed.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "agent/ops.hpp"
#include "agent/worker_link.hpp"

namespace provium::agent {

struct WorkerEntry {
  std::int64_t id = 0;
  std::shared_ptr<WorkerLink> link;
  std::mutex mu;
  std::set<std::int64_t> handles;  // main-side relayed handles, every kind
  int worst = 0;                   // worst exit status of the children waited so far
};

/// A worker_syscall_begin in flight; `result` is the worker's syscall_result (or nullopt when
/// the worker went away).
struct AsyncSyscall {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::optional<proto::Envelope> result;
};

struct Relayed {
  enum class Kind { Process, File, Syscall };
  Kind kind = Kind::Process;
  std::shared_ptr<WorkerEntry> worker;
  std::int64_t remote = 0;  // the handle inside the worker
  std::shared_ptr<AsyncSyscall> syscall;
};

class Workers {
 public:
  static Workers& get();
  std::int64_t add_worker(std::shared_ptr<WorkerEntry> w);
  std::shared_ptr<WorkerEntry> worker(std::int64_t h);
  /// Drops the worker and every relayed handle it owns.
  void remove_worker(std::int64_t h);
  std::int64_t add_relayed(Relayed r);
  std::optional<Relayed> relayed(std::int64_t h);
  void remove_relayed(std::int64_t h);
  /// The worker's relayed handles of `kind`, main-side id -> worker-side id.
  std::map<std::int64_t, std::int64_t> handles_of(WorkerEntry& w, Relayed::Kind kind);

 private:
  std::mutex mu_;
  std::map<std::int64_t, std::shared_ptr<WorkerEntry>> workers_;
  std::map<std::int64_t, Relayed> relayed_;
};

/// Sends one request to the worker and waits for its final frame, forwarding exec_output side
/// frames to `r` and relaying a cancel of `r`. nullopt: the worker is gone (nothing replied).
std::optional<proto::Envelope> exchange(Request& r, WorkerLink& link, const std::string& kind,
                                        proto::Value payload);
/// Replies to `r` with the worker's final frame (agent_error stays agent_error).
void reply_final(Request& r, const proto::Envelope& e);
/// The clear error for an op on a worker that died or was joined.
void reply_worker_gone(Request& r, const WorkerEntry& w);
/// Exit status of an ExecOk as one integer: the code, or 128 + signal (timed out = SIGKILL).
int status_rank(const proto::Value& exec_ok);
bool is_ok(const proto::Value& op_result);

/// Replaces the handle ops (read, wait, proc_stream, ...) by wrappers that relay relayed
/// handles and run the local handler otherwise. Call after every family registered.
void install_relays(Registry& reg);

}  // namespace provium::agent
