// Worker operations (REFERENCE §6.7, §6.10): spawn_worker and the worker_* ops. Each runs on
// its own request thread and waits only on its own slot of the worker link, so a long relayed
// exec or join never blocks the agent's other requests.
#include <signal.h>

#include <cstring>
#include <thread>

#include "agent/worker_registry.hpp"

namespace provium::agent {
namespace {

using proto::Value;
using std::chrono::milliseconds;

Value handle_payload(std::int64_t h) {
  proto::Map m;
  m["handle"] = Value{h};
  return Value{std::move(m)};
}

std::shared_ptr<WorkerEntry> worker_or_error(Request& r) {
  std::int64_t h = proto::int_field(r.payload, "handle");
  auto w = Workers::get().worker(h);
  if (!w)
    r.send("agent_error",
           proto::agent_error("unknown_handle", "no worker with handle " + std::to_string(h)));
  return w;
}

void op_spawn_worker(Request& r) {
  WorkerCreds creds = parse_worker_creds(r.payload);
  std::shared_ptr<WorkerLink> link;
  try {
    link = WorkerLink::start(creds);
  } catch (const OsError& e) {
    r.reply(proto::op_err(e.err, e.context + ": " + std::strerror(e.err)));
    return;
  }
  auto w = std::make_shared<WorkerEntry>();
  w->link = std::move(link);
  r.reply(proto::op_ok(Value{Workers::get().add_worker(std::move(w))}));
}

// Ops whose worker-side request is `inner` with the payload's `field` (exec or args), answered
// with the worker's reply as it is.
void forward(Request& r, const char* inner, const char* field) {
  auto w = worker_or_error(r);
  if (!w) return;
  Value args = proto::field(r.payload, field);
  auto e = exchange(r, *w->link, inner, std::move(args));
  if (!e) return reply_worker_gone(r, *w);
  reply_final(r, *e);
}

void op_worker_exec(Request& r) { forward(r, "exec", "exec"); }
void op_worker_syscall(Request& r) { forward(r, "syscall", "args"); }

// run_async / open_file in the worker: its handle is mapped to a fresh main-agent handle.
void open_relayed(Request& r, const char* inner, Relayed::Kind kind) {
  auto w = worker_or_error(r);
  if (!w) return;
  Value args = proto::field(r.payload, "args");
  auto e = exchange(r, *w->link, inner, std::move(args));
  if (!e) return reply_worker_gone(r, *w);
  auto v = proto::opt_field(e->payload, "value");
  if (e->kind == "agent_error" || !is_ok(e->payload) || !v || !v->as_int())
    return reply_final(r, *e);
  std::int64_t h = Workers::get().add_relayed(Relayed{kind, w, *v->as_int(), nullptr});
  r.reply(proto::op_ok(Value{h}));
}

void op_worker_run_async(Request& r) { open_relayed(r, "run_async", Relayed::Kind::Process); }
void op_worker_open_file(Request& r) { open_relayed(r, "open_file", Relayed::Kind::File); }

// The syscall runs in the worker while the host does other things; await collects it.
void op_worker_syscall_begin(Request& r) {
  auto w = worker_or_error(r);
  if (!w) return;
  Value args = proto::field(r.payload, "args");
  auto sys = std::make_shared<AsyncSyscall>();
  auto id = w->link->open("syscall", std::move(args));
  if (!id) return reply_worker_gone(r, *w);
  std::int64_t h = Workers::get().add_relayed(Relayed{Relayed::Kind::Syscall, w, 0, sys});
  std::thread([w, sys, id = *id] {
    std::optional<proto::Envelope> e;
    while (!e && w->link->alive()) e = w->link->next(id, milliseconds(50));
    if (!e) e = w->link->next(id, milliseconds(0));  // it may have arrived just before the end
    w->link->close(id);
    std::lock_guard lk(sys->mu);
    sys->result = std::move(e);
    sys->done = true;
    sys->cv.notify_all();
  }).detach();
  r.reply(proto::op_ok(Value{h}));
}

void op_worker_syscall_await(Request& r) {
  std::int64_t h = proto::int_field(r.payload, "handle");
  auto rel = Workers::get().relayed(h);
  if (!rel || rel->kind != Relayed::Kind::Syscall) {
    r.send("agent_error", proto::agent_error("unknown_handle", "no pending syscall with handle " +
                                                                   std::to_string(h)));
    return;
  }
  std::unique_lock lk(rel->syscall->mu);
  while (!rel->syscall->done) {
    if (r.cancelled->load()) {
      lk.unlock();
      r.send("agent_error", proto::agent_error("internal", "worker_syscall_await cancelled"));
      return;
    }
    rel->syscall->cv.wait_for(lk, milliseconds(50));
  }
  auto result = rel->syscall->result;
  lk.unlock();
  Workers::get().remove_relayed(h);
  if (!result) return reply_worker_gone(r, *rel->worker);
  reply_final(r, *result);
}

// Signals every async child still known (relayed process handles); -> how many took it.
void op_worker_kill(Request& r) {
  auto w = worker_or_error(r);
  if (!w) return;
  std::int64_t sig = proto::int_field(r.payload, "signal");
  if (sig < 0 || sig > 64) throw proto::DecodeError("signal must be between 0 and 64");
  if (!w->link->alive()) return reply_worker_gone(r, *w);
  std::int64_t count = 0;
  for (auto [h, remote] : Workers::get().handles_of(*w, Relayed::Kind::Process)) {
    proto::Map m;
    m["handle"] = Value{remote};
    m["signal"] = Value{sig};
    auto e = exchange(r, *w->link, "kill", Value{std::move(m)});
    if (!e) return reply_worker_gone(r, *w);
    if (e->kind == "kill_result" && is_ok(e->payload)) ++count;
  }
  r.reply(proto::op_ok(Value{count}));
}

// Waits for every async child, then ends the worker and drops all its handles. A cancel stops
// the waiting and leaves the worker as it was.
void op_worker_join(Request& r) {
  auto w = worker_or_error(r);
  if (!w) return;
  bool gone = !w->link->alive();
  for (auto [h, remote] : Workers::get().handles_of(*w, Relayed::Kind::Process)) {
    if (gone) break;
    auto e = exchange(r, *w->link, "wait", handle_payload(remote));
    if (!e) {
      gone = true;
      break;
    }
    if (e->kind == "wait_result" && is_ok(e->payload)) {
      std::lock_guard lk(w->mu);
      w->worst = std::max(w->worst, status_rank(*proto::opt_field(e->payload, "value")));
    } else if (r.cancelled->load()) {
      r.reply(proto::op_err(ECANCELED, "worker_join cancelled"));
      return;
    }
    Workers::get().remove_relayed(h);
  }
  if (gone) {
    Workers::get().remove_worker(w->id);
    return reply_worker_gone(r, *w);
  }
  w->link->shutdown("joined");
  Workers::get().remove_worker(w->id);
  proto::Map m;
  {
    std::lock_guard lk(w->mu);
    m["exit_status"] = Value{static_cast<std::int64_t>(w->worst)};
  }
  r.reply(proto::op_ok(Value{std::move(m)}));
}

}  // namespace

void register_worker_ops(Registry& reg) {
  reg["spawn_worker"] = op_spawn_worker;
  reg["worker_exec"] = op_worker_exec;
  reg["worker_syscall"] = op_worker_syscall;
  reg["worker_syscall_begin"] = op_worker_syscall_begin;
  reg["worker_syscall_await"] = op_worker_syscall_await;
  reg["worker_run_async"] = op_worker_run_async;
  reg["worker_open_file"] = op_worker_open_file;
  reg["worker_kill"] = op_worker_kill;
  reg["worker_join"] = op_worker_join;
  install_relays(reg);
}

}  // namespace provium::agent
