// Relaying to workers: the registry, one request/reply exchange over a link, streams with
// credit passed through, and the wrappers that send ops on relayed handles to their worker.
#include <signal.h>

#include <cstring>

#include "agent/worker_registry.hpp"

namespace provium::agent {

using proto::Value;
using std::chrono::milliseconds;

// ---- Registry ----------------------------------------------------------------------------------

Workers& Workers::get() {
  static Workers* w = new Workers();  // lives for the agent's whole life
  return *w;
}

std::int64_t Workers::add_worker(std::shared_ptr<WorkerEntry> w) {
  std::int64_t h = State::get().reserve_handle();
  w->id = h;
  std::lock_guard lk(mu_);
  workers_[h] = std::move(w);
  return h;
}

std::shared_ptr<WorkerEntry> Workers::worker(std::int64_t h) {
  std::lock_guard lk(mu_);
  auto it = workers_.find(h);
  return it == workers_.end() ? nullptr : it->second;
}

void Workers::remove_worker(std::int64_t h) {
  std::shared_ptr<WorkerEntry> w;
  {
    std::lock_guard lk(mu_);
    auto it = workers_.find(h);
    if (it == workers_.end()) return;
    w = std::move(it->second);
    workers_.erase(it);
  }
  std::set<std::int64_t> handles;
  {
    std::lock_guard wl(w->mu);
    handles.swap(w->handles);
  }
  std::lock_guard lk(mu_);
  for (auto rh : handles) relayed_.erase(rh);
}

std::int64_t Workers::add_relayed(Relayed r) {
  std::int64_t h = State::get().reserve_handle();
  {
    std::lock_guard wl(r.worker->mu);
    r.worker->handles.insert(h);
  }
  std::lock_guard lk(mu_);
  relayed_[h] = std::move(r);
  return h;
}

std::optional<Relayed> Workers::relayed(std::int64_t h) {
  std::lock_guard lk(mu_);
  auto it = relayed_.find(h);
  if (it == relayed_.end()) return std::nullopt;
  return it->second;
}

void Workers::remove_relayed(std::int64_t h) {
  std::shared_ptr<WorkerEntry> w;
  {
    std::lock_guard lk(mu_);
    auto it = relayed_.find(h);
    if (it == relayed_.end()) return;
    w = it->second.worker;
    relayed_.erase(it);
  }
  std::lock_guard wl(w->mu);
  w->handles.erase(h);
}

std::map<std::int64_t, std::int64_t> Workers::handles_of(WorkerEntry& w, Relayed::Kind kind) {
  std::set<std::int64_t> hs;
  {
    std::lock_guard wl(w.mu);
    hs = w.handles;
  }
  std::map<std::int64_t, std::int64_t> out;
  std::lock_guard lk(mu_);
  for (auto h : hs)
    if (auto it = relayed_.find(h); it != relayed_.end() && it->second.kind == kind)
      out[h] = it->second.remote;
  return out;
}

// ---- Exchanges ---------------------------------------------------------------------------------

bool is_ok(const Value& r) {
  auto o = proto::opt_field(r, "outcome");
  return o && o->as_string() && *o->as_string() == "ok";
}

int status_rank(const Value& exec_ok) {
  auto st = proto::opt_field(exec_ok, "status");
  if (!st) return 0;
  auto kind = proto::opt_field(*st, "kind");
  auto v = proto::opt_field(*st, "value");
  std::int64_t n = v && v->as_int() ? *v->as_int() : 0;
  std::string k = kind && kind->as_string() ? *kind->as_string() : "";
  if (k == "exited") return static_cast<int>(n);
  if (k == "signalled") return 128 + static_cast<int>(n);
  return 128 + SIGKILL;  // timed out: the agent killed it
}

std::optional<proto::Envelope> exchange(Request& r, WorkerLink& link, const std::string& kind,
                                        Value payload) {
  auto id = link.open(kind, std::move(payload));
  if (!id) return std::nullopt;
  bool cancel_sent = false;
  while (true) {
    if (!cancel_sent && r.cancelled->load()) {
      link.control("cancel", *id);  // the worker replies ECANCELED where the op can stop
      cancel_sent = true;
    }
    auto e = link.next(*id, milliseconds(50));
    if (!e) {
      if (link.alive()) continue;
      link.close(*id);
      return std::nullopt;
    }
    if (e->kind == "exec_output") {
      r.send(e->kind, std::move(e->payload));
      continue;
    }
    link.close(*id);
    return e;
  }
}

void reply_final(Request& r, const proto::Envelope& e) {
  if (e.kind == "agent_error")
    r.send("agent_error", e.payload);
  else
    r.reply(e.payload);
}

void reply_worker_gone(Request& r, const WorkerEntry& w) {
  std::string msg = "worker " + std::to_string(w.id) + " is gone: " + w.link->cause();
  // The syscall shapes are plain (no OpResult): their failure is an envelope error.
  if (r.kind == "worker_syscall" || r.kind == "worker_syscall_await")
    r.send("agent_error", proto::agent_error("internal", msg));
  else
    r.reply(proto::op_err(ESRCH, msg));
}

namespace {

void end_stream(Request& r, const std::string& msg) {
  proto::Map e;
  e["errno"] = Value{static_cast<std::int64_t>(ESRCH)};
  e["message"] = Value{msg};
  proto::Map m;
  m["reason"] = Value{"error"};
  m["data"] = Value{std::move(e)};
  r.send("stream_end", Value{std::move(m)});
}

// A stream from the worker, passed through under r's id. The host's credit gates forwarding;
// each forwarded frame is credited back to the worker, so at most the worker's initial credit
// waits here. A host stream_close becomes a stream_close to the worker.
void relay_stream(Request& r, WorkerEntry& w, Value payload) {
  WorkerLink& link = *w.link;
  auto id = link.open(r.kind, std::move(payload));
  if (!id) return reply_worker_gone(r, w);
  std::optional<proto::Envelope> first;
  while (!first) {
    first = link.next(*id, milliseconds(50));
    if (!first && !link.alive()) {
      link.close(*id);
      return reply_worker_gone(r, w);
    }
  }
  if (first->kind == "agent_error" || !is_ok(first->payload)) {
    link.close(*id);
    return reply_final(r, *first);
  }
  auto stream = r.conn->open_stream(r.id);
  r.reply(first->payload);
  bool close_sent = false;
  while (true) {
    bool host_closed;
    {
      std::lock_guard lk(stream->mu);
      host_closed = stream->closed;
    }
    if (host_closed && !close_sent) {
      link.control("stream_close", *id);
      close_sent = true;
    }
    auto e = link.next(*id, milliseconds(50));
    if (!e) {
      if (link.alive()) continue;
      end_stream(r, "worker " + std::to_string(w.id) + " is gone: " + link.cause());
      break;
    }
    if (e->kind == "stream_frame") {
      auto n = static_cast<std::int64_t>(proto::bytes_field(e->payload, "data").size());
      if (!close_sent && stream->take(static_cast<std::uint64_t>(n)))
        r.send("stream_frame", std::move(e->payload));
      link.control("stream_credit", *id, n);
      continue;
    }
    if (e->kind == "stream_end") {
      r.send("stream_end", std::move(e->payload));
      break;
    }
  }
  link.close(*id);
  r.conn->close_stream(r.id);
}

// ---- Relayed handle ops ------------------------------------------------------------------------

const std::set<std::string> kFileOps = {"read", "write", "seek", "close", "ioctl", "fd_stream"};
const std::set<std::string> kProcessOps = {
    "wait",        "kill",       "get_pid", "proc_stdin_write", "proc_stdin_close",
    "proc_status", "proc_stream"};

std::map<std::string, Handler>& local_handlers() {
  static std::map<std::string, Handler> m;
  return m;
}

void relay_handle_op(Request& r, std::int64_t h, const Relayed& rel) {
  bool file_op = kFileOps.count(r.kind) > 0;
  if (rel.kind != (file_op ? Relayed::Kind::File : Relayed::Kind::Process)) {
    if (r.kind == "proc_status") return r.reply(proto::op_ok(Value{"unknown"}));
    r.send("agent_error", proto::agent_error("unknown_handle",
                                             std::string(file_op ? "no open file" : "no process") +
                                                 " with handle " + std::to_string(h)));
    return;
  }
  Value payload = r.payload;
  std::get<proto::Map>(payload.v)["handle"] = Value{rel.remote};
  if (r.kind == "fd_stream" || r.kind == "proc_stream")
    return relay_stream(r, *rel.worker, std::move(payload));
  auto e = exchange(r, *rel.worker->link, r.kind, std::move(payload));
  if (!e) return reply_worker_gone(r, *rel.worker);
  if (r.kind == "wait" && e->kind == "wait_result" && is_ok(e->payload)) {
    auto v = proto::opt_field(e->payload, "value");
    {
      std::lock_guard lk(rel.worker->mu);
      if (v) rel.worker->worst = std::max(rel.worker->worst, status_rank(*v));
    }
    Workers::get().remove_relayed(h);  // wait consumes the handle
  } else if (r.kind == "close" && (is_ok(e->payload) || e->kind == "agent_error")) {
    Workers::get().remove_relayed(h);
  }
  reply_final(r, *e);
}

void relay_or_local(Request& r) {
  const Value* h = proto::opt_field(r.payload, "handle");
  if (h && h->as_int())
    if (auto rel = Workers::get().relayed(*h->as_int()))
      return relay_handle_op(r, *h->as_int(), *rel);
  local_handlers().at(r.kind)(r);
}

}  // namespace

void install_relays(Registry& reg) {
  for (auto* ops : {&kFileOps, &kProcessOps})
    for (auto& kind : *ops) {
      auto it = reg.find(kind);
      if (it == reg.end() || it->second == relay_or_local) continue;
      local_handlers()[kind] = it->second;
      it->second = relay_or_local;
    }
}

}  // namespace provium::agent
