#include "agent/server.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <set>
#include <thread>

#include "agent/io.hpp"
#include "agent/version.hpp"

namespace provium::agent {

using proto::Value;

void Request::reply(Value value) const { send(kind + "_result", std::move(value)); }
bool Request::send(const std::string& k, Value p) const {
  if (capture) {
    capture(k, std::move(p));
    return true;
  }
  return conn->send(id, k, std::move(p));
}

void reply_os_error(Request& r, int err, const std::string& context) {
  // The message is strerror alone: the host renders `<method>: <message> (errno N)` and the
  // caller already knows which path it asked about.
  (void)context;
  r.reply(proto::op_err(err, std::strerror(err)));
}

bool StreamState::take(std::uint64_t n) {
  std::unique_lock lk(mu);
  cv.wait(lk, [&] { return closed || credit >= n; });
  if (closed) return false;
  credit -= n;
  return true;
}

bool Connection::send(std::int64_t id, const std::string& kind, Value payload) {
  // The envelope of encode_envelope(), with big bin bodies (read_file data) written from where
  // they are instead of being copied into the frame.
  proto::Map env;
  env["id"] = Value{id};
  env["kind"] = Value{kind};
  env["payload"] = std::move(payload);
  const Value body{std::move(env)};
  proto::FramedRefs frame = proto::encode_framed_refs(body);
  std::lock_guard lk(write_mu_);
  if (broken_) return false;
  if (frame.size() - 4 > proto::kMaxFrameBytes) {
    // Never emit a frame the host must refuse: tell it why instead.
    std::string err = proto::encode_envelope(
        {id, "agent_error", proto::agent_error("internal", "reply of " + std::to_string(frame.size()) +
                                                               " bytes exceeds the 128 MiB frame limit")});
    if (!write_all(fd_, err.data(), err.size())) broken_ = true;
    return !broken_;
  }
  if (!proto::write_framed(fd_, frame)) broken_ = true;
  return !broken_;
}

std::shared_ptr<StreamState> Connection::open_stream(std::int64_t id) {
  std::lock_guard lk(mu_);
  auto s = std::make_shared<StreamState>();
  streams_[id] = s;
  return s;
}

void Connection::close_stream(std::int64_t id) {
  std::shared_ptr<StreamState> s;
  {
    std::lock_guard lk(mu_);
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    s = it->second;
    streams_.erase(it);
  }
  std::lock_guard lk(s->mu);
  s->closed = true;
  s->cv.notify_all();
}

bool Connection::hunt_marker(std::string& buf) {
  auto at = buf.find(proto::kSyncMarker);
  if (at == std::string::npos) {
    // Keep a tail that may be the start of a marker split across reads.
    if (buf.size() > proto::kSyncMarker.size()) buf.erase(0, buf.size() - proto::kSyncMarker.size());
    return false;
  }
  buf.erase(0, at + proto::kSyncMarker.size());
  return true;
}

void Connection::dispatch(proto::Envelope env) {
  if (!hello_done_) {
    if (env.kind != "hello") {
      send(env.id, "agent_error", proto::agent_error("bad_request", "the first request must be `hello`"));
      return;
    }
    std::int64_t v = proto::int_field_or(env.payload, "protocol_version", -1);
    if (v != proto::kProtocolVersion) {
      proto::Map m;
      m["host_version"] = Value{v};
      m["agent_version"] = Value{proto::kProtocolVersion};
      send(0, "hello_err", Value{std::move(m)});
      std::lock_guard lk(write_mu_);
      broken_ = true;  // close after hello_err
      return;
    }
    struct utsname u {};
    ::uname(&u);
    proto::Map agent;
    agent["os"] = Value{"linux"};
    agent["agent_version"] = Value{std::string(kAgentVersion)};
    agent["kernel"] = Value{std::string(u.release)};
    agent["capabilities"] = Value{proto::Array{Value{"cancel"}, Value{"exec_output"}, Value{"read_mem"},
                                               Value{"streams"}, Value{"batch"},
                                               Value{"workers"}}};
    proto::Map ok;
    ok["protocol_version"] = Value{proto::kProtocolVersion};
    ok["agent"] = Value{std::move(agent)};
    {
      std::lock_guard lk(write_mu_);
      write_all(fd_, proto::kSyncMarker.data(), proto::kSyncMarker.size());
    }
    send(0, "hello_ok", Value{std::move(ok)});
    hello_done_ = true;
    return;
  }
  if (env.kind == "hello") {
    send(env.id, "agent_error", proto::agent_error("bad_request", "second `hello` on one connection"));
    return;
  }
  if (env.kind == "ping") {
    send(env.id, "pong", Value{proto::Map{}});
    return;
  }
  if (env.kind == "cancel" || env.kind == "stream_close" || env.kind == "stream_credit") {
    std::int64_t target = 0;
    try {
      target = proto::int_field(env.payload, "target");
    } catch (const proto::DecodeError& e) {
      send(env.id, "agent_error", proto::agent_error("bad_request", std::string(env.kind) + ": " + e.what()));
      return;
    }
    std::lock_guard lk(mu_);
    if (env.kind == "cancel") {
      if (auto it = inflight_.find(target); it != inflight_.end()) it->second->store(true);
    } else if (env.kind == "stream_credit") {
      if (auto it = streams_.find(target); it != streams_.end()) {
        std::lock_guard slk(it->second->mu);
        it->second->credit += static_cast<std::uint64_t>(proto::int_field_or(env.payload, "bytes", 0));
        it->second->cv.notify_all();
      }
    } else if (auto it = streams_.find(target); it != streams_.end()) {
      std::lock_guard slk(it->second->mu);
      it->second->closed = true;
      it->second->cv.notify_all();
    }
    return;
  }
  Handler h = find_handler(env.kind);
  if (!h) {
    send(env.id, "agent_error", proto::agent_error("unsupported", "unknown op `" + env.kind + "`"));
    return;
  }
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  {
    std::lock_guard lk(mu_);
    inflight_[env.id] = cancelled;
  }
  ++running_;
  // Requests naming the same handle with order-sensitive ops run one after another, in arrival
  // order (REFERENCE §6.5); everything else runs concurrently on its own thread.
  static const std::set<std::string> kOrdered = {"read", "write", "seek", "close", "ioctl",
                                                 "proc_stdin_write", "proc_stdin_close"};
  const Value* handle = kOrdered.count(env.kind) ? proto::opt_field(env.payload, "handle") : nullptr;
  if (handle && handle->as_int()) {
    std::int64_t hid = *handle->as_int();
    std::lock_guard lk(mu_);
    auto& q = handle_queues_[hid];
    bool idle = q.empty();
    q.push_back(Queued{h, std::move(env), cancelled});
    if (idle) run_detached([this, hid] { drain_handle(hid); });
    return;
  }
  run_detached([this, h, env = std::move(env), cancelled]() mutable {
    run_request(h, std::move(env), cancelled);
  });
}

void Connection::drain_handle(std::int64_t hid) {
  while (true) {
    Queued item;
    {
      // The front stays queued (moved-from) while it runs, so later arrivals queue behind it.
      std::lock_guard lk(mu_);
      item = std::move(handle_queues_[hid].front());
    }
    run_request(item.handler, std::move(item.env), item.cancelled);
    std::lock_guard lk(mu_);
    auto& q = handle_queues_[hid];
    q.pop_front();
    if (q.empty()) {
      handle_queues_.erase(hid);
      return;
    }
  }
}

void Connection::run_request(Handler h, proto::Envelope env, std::shared_ptr<std::atomic<bool>> cancelled) {
  Request r{env.id, env.kind, std::move(env.payload), this, cancelled, nullptr};
  try {
    h(r);
  } catch (const proto::DecodeError& e) {
    send(r.id, "agent_error", proto::agent_error("bad_request", r.kind + ": " + e.what()));
  } catch (const OsError& e) {
    reply_os_error(r, e.err, e.context);
  } catch (const std::exception& e) {
    send(r.id, "agent_error", proto::agent_error("internal", r.kind + ": " + e.what()));
  }
  std::lock_guard lk(mu_);
  inflight_.erase(r.id);
  if (--running_ == 0) idle_cv_.notify_all();
}

void Connection::serve() {
  std::string buf;
  bool synced = false;
  proto::FrameSplitter splitter(proto::kMaxFrameBytes);
  char chunk[65536];
  while (true) {
    ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (!synced) {
      buf.append(chunk, static_cast<size_t>(n));
      if (!hunt_marker(buf)) continue;
      synced = true;
      splitter = proto::FrameSplitter(proto::kMaxFrameBytes);
      splitter.feed(buf);
      buf.clear();
    } else {
      splitter.feed(std::string_view(chunk, static_cast<size_t>(n)));
    }
    try {
      while (auto body = splitter.next()) {
        proto::Envelope env;
        try {
          env = proto::decode_envelope(*body);
        } catch (const proto::DecodeError& e) {
          send(0, "agent_error", proto::agent_error("bad_request", std::string("malformed frame: ") + e.what()));
          continue;
        }
        dispatch(std::move(env));
        std::lock_guard lk(write_mu_);
        if (broken_) goto done;
      }
    } catch (const proto::DecodeError& e) {
      // Oversized length: framing is lost; report and hunt for the next marker, starting with
      // what already arrived after the bad header.
      send(0, "agent_error", proto::agent_error("bad_request", e.what()));
      synced = false;
      hello_done_ = false;
      buf = splitter.take_rest();
      if (hunt_marker(buf)) {
        synced = true;
        splitter = proto::FrameSplitter(proto::kMaxFrameBytes);
        splitter.feed(buf);
        buf.clear();
        try {
          while (auto body = splitter.next()) {
            try {
              dispatch(proto::decode_envelope(*body));
            } catch (const proto::DecodeError& de) {
              send(0, "agent_error", proto::agent_error("bad_request", std::string("malformed frame: ") + de.what()));
            }
          }
        } catch (const proto::DecodeError& again) {
          send(0, "agent_error", proto::agent_error("bad_request", again.what()));
          synced = false;
        }
      }
    }
  }
done:
  // Stop every stream of this connection and wait for request threads to finish with it.
  {
    std::lock_guard lk(mu_);
    for (auto& [id, s] : streams_) {
      std::lock_guard slk(s->mu);
      s->closed = true;
      s->cv.notify_all();
    }
    for (auto& [id, c] : inflight_) c->store(true);
  }
  {
    std::lock_guard lk(write_mu_);
    broken_ = true;
  }
  std::unique_lock lk(mu_);
  idle_cv_.wait(lk, [&] { return running_.load() == 0; });
}

}  // namespace provium::agent
