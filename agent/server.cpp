#include "agent/server.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <cstring>
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
  std::string frame = proto::encode_envelope({id, kind, std::move(payload)});
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
  if (!write_all(fd_, frame.data(), frame.size())) broken_ = true;
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
                                               Value{"streams"}, Value{"batch"}}};
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
  // Each request on its own short-lived thread: a blocking wait or exec never delays others.
  std::thread([this, h, env = std::move(env), cancelled]() mutable {
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
  }).detach();
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
      // Oversized length: framing is lost; report and hunt for the next marker.
      send(0, "agent_error", proto::agent_error("bad_request", e.what()));
      synced = false;
      hello_done_ = false;
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
