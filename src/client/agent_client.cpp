#include "client/agent_client.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "proto/fd_io.hpp"

namespace provium::client {

using proto::Value;

std::optional<std::string> op_error(const Value& r, const std::string& method, Value* value) {
  auto outcome = proto::opt_field(r, "outcome");
  auto v = proto::opt_field(r, "value");
  if (outcome && outcome->as_string() && *outcome->as_string() == "ok") {
    // The ok value is moved out: callers do not look at the result again.
    if (value) *value = v ? std::move(const_cast<Value&>(*v)) : Value{};
    return std::nullopt;
  }
  if (outcome && outcome->as_string() && *outcome->as_string() == "err" && v) {
    auto err = proto::int_field_or(*v, "errno", 0);
    std::string msg =
        proto::opt_field(*v, "message") && proto::opt_field(*v, "message")->as_string()
            ? *proto::opt_field(*v, "message")->as_string()
            : std::strerror(static_cast<int>(err));
    return fmt::format("{}: {} (errno {})", method, msg, err);
  }
  return fmt::format("{}: agent sent a malformed result", method);
}

AgentClient::AgentClient(int fd) : fd_(fd) {
  reader_ = std::thread([this] { reader(); });
}

AgentClient::~AgentClient() {
  shutdown();
  if (reader_.joinable()) reader_.join();
  ::close(fd_);
}

void AgentClient::shutdown() {
  ::shutdown(fd_, SHUT_RDWR);
  fail_all("connection closed");
}

bool AgentClient::alive() const {
  std::lock_guard lk(mu_);
  return !dead_;
}

std::string AgentClient::dead_cause() const {
  std::lock_guard lk(mu_);
  return dead_cause_;
}

void AgentClient::fail_all(const std::string& cause) {
  std::map<std::int64_t, std::shared_ptr<StreamChannel>> streams;
  {
    std::lock_guard lk(mu_);
    if (!dead_) {
      dead_ = true;
      dead_cause_ = cause;
    }
    streams.swap(streams_);
  }
  cv_.notify_all();
  for (auto& [id, s] : streams) {
    std::lock_guard lk(s->mu_);
    s->ended_ = true;
    s->end_reason_ = "error";
    s->cv_.notify_all();
  }
}

void AgentClient::send(std::int64_t id, const std::string& kind, Value payload) {
  // The envelope of encode_envelope(); big bin bodies (write_file data) are written from the
  // payload itself rather than copied into the frame.
  proto::Map env;
  env["id"] = Value{id};
  env["kind"] = Value{kind};
  env["payload"] = std::move(payload);
  const Value body{std::move(env)};
  proto::FramedRefs frame = proto::encode_framed_refs(body);
  if (frame.size() - 4 > proto::kMaxFrameBytes)
    throw AgentError(
        fmt::format("{}: request of {} bytes exceeds the 128 MiB frame limit", kind, frame.size()));
  std::lock_guard lk(write_mu_);
  if (!proto::write_framed(fd_, frame)) throw AgentError("agent: connection lost while sending");
}

namespace {

// A frame's body whose bin tail was read apart (take_tail_frame): the Envelope, with the bin
// adopted by the payload instead of copied.
proto::Envelope envelope_of(proto::Value v) {
  auto m = std::get_if<proto::Map>(&v.v);
  if (!m) throw proto::DecodeError("envelope is not a map");
  auto id = m->find("id");
  auto kind = m->find("kind");
  if (id == m->end() || !id->second.as_int())
    throw proto::DecodeError("envelope lacks an integer `id`");
  if (kind == m->end() || !kind->second.as_string())
    throw proto::DecodeError("envelope lacks a string `kind`");
  proto::Envelope e;
  e.id = *id->second.as_int();
  e.kind = *kind->second.as_string();
  if (auto p = m->find("payload"); p != m->end()) e.payload = std::move(p->second);
  return e;
}

// Frames at least this big whose body ends with a bin (read_file data, exec output) are read
// into the bin's own buffer: no frame-sized staging buffer, no copy out of it.
constexpr std::size_t kTailFrameMin = 1u << 20;

}  // namespace

void AgentClient::reader() {
  proto::FrameSplitter splitter(proto::kMaxFrameBytes);
  std::string marker_buf;
  bool synced = false;
  char buf[1 << 16];
  while (true) {
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      fail_all(n == 0 ? "agent connection closed (EOF)"
                      : std::string("agent connection failed: ") + std::strerror(errno));
      return;
    }
    std::string_view data(buf, static_cast<size_t>(n));
    if (!synced) {
      // The agent sends the marker before hello_ok; anything before it is stale.
      marker_buf.append(data);
      auto at = marker_buf.find(proto::kSyncMarker);
      if (at == std::string::npos) continue;
      synced = true;
      splitter.feed(std::string_view(marker_buf).substr(at + proto::kSyncMarker.size()));
      marker_buf.clear();
    } else {
      splitter.feed(data);
    }
    try {
      while (true) {
        proto::Envelope env;
        if (auto t = splitter.take_tail_frame(kTailFrameMin)) {
          // The rest of this frame is its bin's data: read it where the Value will keep it.
          while (t->filled < t->data.size()) {
            ssize_t k = ::read(fd_, t->data.data() + t->filled, t->data.size() - t->filled);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) {
              fail_all(k == 0 ? "agent connection closed (EOF)"
                              : std::string("agent connection failed: ") + std::strerror(errno));
              return;
            }
            t->filled += static_cast<size_t>(k);
          }
          env = envelope_of(proto::decode_tail_frame(std::move(*t)));
        } else if (auto body = splitter.next()) {
          env = proto::decode_envelope(*body);
        } else {
          break;
        }
        route(std::move(env));
      }
    } catch (const proto::DecodeError& e) {
      fail_all(std::string("agent sent a malformed frame: ") + e.what());
      return;
    }
  }
}

void AgentClient::route(proto::Envelope env) {
  std::unique_lock lk(mu_);
  if (env.kind == "hello_ok" || env.kind == "hello_err" ||
      (env.id == 0 && env.kind == "agent_error" && !hello_reply_)) {
    hello_reply_ = Reply{env.kind, std::move(env.payload), {}, {}};
    cv_.notify_all();
    return;
  }
  if (auto s = streams_.find(env.id);
      s != streams_.end() && (env.kind == "stream_frame" || env.kind == "stream_end")) {
    auto ch = s->second;
    if (env.kind == "stream_end") streams_.erase(s);
    lk.unlock();
    std::lock_guard slk(ch->mu_);
    if (env.kind == "stream_frame") {
      ch->chunks_.push_back(proto::bytes_field(env.payload, "data"));
    } else {
      ch->ended_ = true;
      auto reason = proto::opt_field(env.payload, "reason");
      ch->end_reason_ = reason && reason->as_string() ? *reason->as_string() : "eof";
    }
    ch->cv_.notify_all();
    return;
  }
  auto it = pending_.find(env.id);
  if (it == pending_.end()) return;  // a reply to a cancelled or abandoned request
  if (env.kind == "exec_output") {
    std::string ch = proto::str_field(env.payload, "channel");
    (ch == "stdout" ? it->second->out_prefix : it->second->err_prefix) +=
        proto::bytes_field(env.payload, "data");
    return;
  }
  it->second->reply = Reply{std::move(env.kind), std::move(env.payload), {}, {}};
  cv_.notify_all();
}

Value AgentClient::handshake(std::chrono::milliseconds timeout) {
  {
    std::lock_guard lk(write_mu_);
    if (!proto::write_all(fd_, proto::kSyncMarker.data(), proto::kSyncMarker.size()))
      throw AgentError("agent: connection lost before the handshake");
  }
  proto::Map hello;
  hello["protocol_version"] = Value{proto::kProtocolVersion};
  send(0, "hello", Value{std::move(hello)});
  std::unique_lock lk(mu_);
  if (!cv_.wait_for(lk, timeout, [&] { return hello_reply_.has_value() || dead_; }))
    throw AgentError(fmt::format("agent: no handshake within {} ms", timeout.count()));
  if (!hello_reply_) throw AgentError("agent: " + dead_cause_ + " during the handshake");
  if (hello_reply_->kind == "hello_err") {
    auto av = proto::int_field_or(hello_reply_->payload, "agent_version", -1);
    throw AgentError(fmt::format("agent: protocol version mismatch (host: {}, agent: {})",
                                 proto::kProtocolVersion, av));
  }
  if (hello_reply_->kind != "hello_ok") throw AgentError("agent: handshake refused");
  auto agent = proto::opt_field(hello_reply_->payload, "agent");
  return agent ? *agent : Value{};
}

Reply AgentClient::call(const std::string& kind, Value payload, const InterruptCheck& intr) {
  auto p = std::make_shared<Pending>();
  std::int64_t id;
  {
    std::lock_guard lk(mu_);
    if (dead_) throw AgentError("agent: " + dead_cause_);
    id = next_id_++;
    pending_[id] = p;
  }
  try {
    send(id, kind, std::move(payload));
  } catch (...) {
    std::lock_guard lk(mu_);
    pending_.erase(id);
    throw;
  }
  std::unique_lock lk(mu_);
  while (!p->reply && !dead_) {
    cv_.wait_for(lk, std::chrono::milliseconds(50));
    if (intr && !p->reply) {
      std::string why = intr();
      if (!why.empty()) {
        pending_.erase(id);
        lk.unlock();
        proto::Map c;
        c["target"] = Value{id};
        try {
          send(next_id_++, "cancel", Value{std::move(c)});
        } catch (...) {
        }
        throw Interrupted(why);
      }
    }
  }
  pending_.erase(id);
  if (!p->reply) throw AgentError("agent: " + dead_cause_);
  Reply r = std::move(*p->reply);
  r.stdout_prefix = std::move(p->out_prefix);
  r.stderr_prefix = std::move(p->err_prefix);
  if (r.kind == "agent_error") {
    std::string k =
        proto::opt_field(r.payload, "kind") && proto::opt_field(r.payload, "kind")->as_string()
            ? *proto::opt_field(r.payload, "kind")->as_string()
            : "internal";
    std::string m = proto::opt_field(r.payload, "message") &&
                            proto::opt_field(r.payload, "message")->as_string()
                        ? *proto::opt_field(r.payload, "message")->as_string()
                        : "";
    throw AgentError(fmt::format("agent: {}: {}", k, m));
  }
  return r;
}

std::shared_ptr<StreamChannel> AgentClient::open_stream(const std::string& kind, Value payload,
                                                        const std::string& what) {
  auto ch = std::make_shared<StreamChannel>();
  ch->owner_ = weak_from_this();
  auto p = std::make_shared<Pending>();
  std::int64_t id;
  {
    std::lock_guard lk(mu_);
    if (dead_) throw AgentError("agent: " + dead_cause_);
    id = next_id_++;
    ch->id_ = id;
    pending_[id] = p;
    streams_[id] = ch;  // registered first: frames may follow the result immediately
  }
  send(id, kind, std::move(payload));
  std::unique_lock lk(mu_);
  cv_.wait(lk, [&] { return p->reply.has_value() || dead_; });
  pending_.erase(id);
  if (!p->reply) throw AgentError("agent: " + dead_cause_);
  if (p->reply->kind == "agent_error") {
    streams_.erase(id);
    throw AgentError(
        fmt::format("agent: {}", proto::opt_field(p->reply->payload, "message")
                                     ? *proto::opt_field(p->reply->payload, "message")->as_string()
                                     : std::string("error")));
  }
  if (auto err = op_error(p->reply->payload, what)) {
    streams_.erase(id);
    throw AgentError(*err);
  }
  return ch;
}

void AgentClient::credit(std::int64_t id, std::uint64_t bytes) {
  proto::Map m;
  m["target"] = Value{id};
  m["bytes"] = Value{static_cast<std::int64_t>(bytes)};
  std::int64_t cid;
  {
    std::lock_guard lk(mu_);
    if (dead_) return;
    cid = next_id_++;
  }
  try {
    send(cid, "stream_credit", Value{std::move(m)});
  } catch (...) {
  }
}

void AgentClient::close_stream(std::int64_t id) {
  proto::Map m;
  m["target"] = Value{id};
  std::int64_t cid;
  {
    std::lock_guard lk(mu_);
    if (dead_) return;
    cid = next_id_++;
  }
  try {
    send(cid, "stream_close", Value{std::move(m)});
  } catch (...) {
  }
}

std::optional<std::string> StreamChannel::next(std::chrono::milliseconds timeout,
                                               const InterruptCheck& intr) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lk(mu_);
  while (chunks_.empty() && !ended_ && !closed_) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    cv_.wait_for(lk, std::chrono::milliseconds(50));
    if (intr) {
      std::string why = intr();
      if (!why.empty()) throw Interrupted(why);
    }
  }
  if (chunks_.empty()) return std::string();
  std::string c = std::move(chunks_.front());
  chunks_.pop_front();
  lk.unlock();
  if (auto o = owner_.lock())
    o->credit(id_, c.size());  // consumed: the agent may send this much more
  return c;
}

bool StreamChannel::ended() const {
  std::lock_guard lk(mu_);
  return (ended_ || closed_) && chunks_.empty();
}

std::string StreamChannel::end_reason() const {
  std::lock_guard lk(mu_);
  return end_reason_;
}

void StreamChannel::close() {
  bool was_ended;
  {
    std::lock_guard lk(mu_);
    if (closed_) return;
    closed_ = true;
    was_ended = ended_;
    chunks_.clear();
    cv_.notify_all();
  }
  if (auto o = owner_.lock(); o && !was_ended) o->close_stream(id_);
}

void StreamChannel::deliver(std::string chunk) {
  std::lock_guard lk(mu_);
  if (closed_ || ended_) return;
  chunks_.push_back(std::move(chunk));
  cv_.notify_all();
}

void StreamChannel::finish(std::string reason) {
  std::lock_guard lk(mu_);
  if (ended_) return;
  ended_ = true;
  end_reason_ = std::move(reason);
  cv_.notify_all();
}

bool StreamChannel::closed() const {
  std::lock_guard lk(mu_);
  return closed_;
}

bool StreamChannel::live() const {
  std::lock_guard lk(mu_);
  return !closed_ && !ended_;
}

std::vector<std::string> AgentClient::live_stream_labels() const {
  std::vector<std::shared_ptr<StreamChannel>> streams;
  {
    std::lock_guard lk(mu_);
    for (auto& [id, ch] : streams_) streams.push_back(ch);
  }
  std::vector<std::string> out;
  for (auto& ch : streams)
    if (ch->live()) out.push_back(ch->label.empty() ? "stream" : ch->label);
  return out;
}

}  // namespace provium::client
