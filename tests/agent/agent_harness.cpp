#include "agent_harness.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#ifndef PROVIUM_AGENT_BIN
#error "PROVIUM_AGENT_BIN must name the provium-agent binary"
#endif

namespace provium::agent_test {

using Clock = std::chrono::steady_clock;

// ---- Value builders -------------------------------------------------------------------------

Value Obj(std::initializer_list<std::pair<const std::string, Value>> kv) {
  return Value{proto::Map(kv)};
}

Value Arr(std::initializer_list<Value> xs) { return Value{proto::Array(xs)}; }

Value Bin(std::string bytes) { return Value{proto::Bytes{std::move(bytes)}}; }

Value Int(std::int64_t x) { return Value{x}; }

Value ShellExec(const std::string& script) {
  return Obj({{"cmd", "/bin/sh"}, {"args", Arr({"-c", Value{script}})}});
}

Value ArgvExec(const std::string& cmd, std::vector<std::string> args) {
  proto::Array a;
  for (auto& s : args) a.push_back(Value{s});
  return Obj({{"cmd", Value{cmd}}, {"args", Value{std::move(a)}}});
}

Value With(Value base, const std::string& key, Value v) {
  if (auto m = std::get_if<proto::Map>(&base.v)) (*m)[key] = std::move(v);
  return base;
}

// ---- Value accessors ------------------------------------------------------------------------

const Value& Get(const Value& v, const std::string& key) {
  static const Value kNil;
  auto m = v.as_map();
  if (!m) return kNil;
  auto it = m->find(key);
  return it == m->end() ? kNil : it->second;
}

bool Has(const Value& v, const std::string& key) {
  auto m = v.as_map();
  return m && m->count(key) > 0;
}

std::int64_t AsInt(const Value& v) {
  auto i = v.as_int();
  return i ? *i : INT64_MIN;
}

std::string AsStr(const Value& v) {
  auto s = v.as_string();
  return s ? *s : std::string("<not a string>");
}

std::string AsBin(const Value& v) {
  auto b = v.as_bytes();
  return b ? b->data : std::string("<not bin>");
}

bool IsBin(const Value& v) { return v.as_bytes() != nullptr; }

std::string Hex(std::string_view bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

namespace {

void DescribeInto(const Value& v, std::string& out) {
  if (v.is_null()) {
    out += "nil";
  } else if (auto b = v.as_bool()) {
    out += *b ? "true" : "false";
  } else if (auto i = v.as_int()) {
    out += std::to_string(*i);
  } else if (auto d = std::get_if<double>(&v.v)) {
    out += std::to_string(*d);
  } else if (auto s = v.as_string()) {
    out += '"' + (s->size() > 200 ? s->substr(0, 200) + "..." : *s) + '"';
  } else if (auto bb = v.as_bytes()) {
    out += "bin(" + std::to_string(bb->data.size()) + ")";
    if (bb->data.size() <= 64) {
      out += "'";
      for (unsigned char c : bb->data) {
        if (c >= 32 && c < 127)
          out.push_back(static_cast<char>(c));
        else
          out += "\\x" + Hex(std::string_view(reinterpret_cast<const char*>(&c), 1));
      }
      out += "'";
    }
  } else if (auto a = v.as_array()) {
    out += "[";
    for (size_t i = 0; i < a->size(); ++i) {
      if (i) out += ", ";
      DescribeInto((*a)[i], out);
    }
    out += "]";
  } else if (auto m = v.as_map()) {
    out += "{";
    bool first = true;
    for (auto& [k, x] : *m) {
      if (!first) out += ", ";
      first = false;
      out += k + ": ";
      DescribeInto(x, out);
    }
    out += "}";
  }
}

}  // namespace

std::string Describe(const Value& v) {
  std::string out;
  DescribeInto(v, out);
  return out;
}

std::string Describe(const Envelope& e) {
  return "{id: " + std::to_string(e.id) + ", kind: " + e.kind +
         ", payload: " + Describe(e.payload) + "}";
}

bool IsOk(const Value& r) { return AsStr(Get(r, "outcome")) == "ok"; }

std::int64_t ErrnoOf(const Value& r) {
  if (AsStr(Get(r, "outcome")) != "err") return -1;
  return AsInt(Get(Get(r, "value"), "errno"));
}

const Value& ValueOf(const Value& r) { return Get(r, "value"); }

// ---- AgentHarness -------------------------------------------------------------------------------

AgentHarness::AgentHarness(bool handshake) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return;
  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(sv[0]);
    ::close(sv[1]);
    return;
  }
  if (pid_ == 0) {
    int fd = sv[1];
    if (fd == 3) {
      ::fcntl(fd, F_SETFD, 0);
    } else {
      ::dup2(fd, 3);  // dup2 clears FD_CLOEXEC on the copy
    }
    const char* bin = PROVIUM_AGENT_BIN;
    ::execl(bin, bin, "--fd", "3", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(sv[1]);
  fd_ = sv[0];
  if (!handshake) {
    ok_ = true;
    return;
  }
  auto reply = Handshake();
  if (reply && reply->kind == "hello_ok" && reply->id == 0) {
    hello_ok_ = *reply;
    ok_ = true;
  } else {
    std::fprintf(stderr, "agent handshake failed: %s\n",
                 reply ? Describe(*reply).c_str() : "no reply");
  }
}

AgentHarness::~AgentHarness() {
  CloseSocket();
  if (pid_ > 0 && !exited_) {
    // Tests that care about a clean exit check it explicitly; here only reap, quickly.
    if (!WaitExit(Millis(300))) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
  }
}

std::optional<Envelope> AgentHarness::Handshake(std::int64_t version, Millis timeout) {
  std::string out(proto::kSyncMarker);
  out += proto::encode_envelope({0, "hello", Obj({{"protocol_version", Value{version}}})});
  if (!SendRaw(out)) return std::nullopt;
  if (!ExpectMarker(timeout) && in_.empty()) return std::nullopt;
  return NextAny(timeout);
}

bool AgentHarness::SendRaw(std::string_view bytes) {
  if (fd_ < 0) return false;
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, 100);
      continue;
    }
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool AgentHarness::Fill(Millis timeout) {
  if (fd_ < 0 || eof_) return false;
  auto deadline = Clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
    if (left < 0) left = 0;
    pollfd p{fd_, POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(left));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return false;
    char buf[1 << 16];
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    in_.append(buf, static_cast<size_t>(n));
    return true;
  }
}

std::optional<std::string> AgentHarness::RecvRaw(size_t n, Millis timeout) {
  auto deadline = Clock::now() + timeout;
  while (in_.size() < n) {
    auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    if (left.count() <= 0 || !Fill(left)) return std::nullopt;
  }
  std::string out = in_.substr(0, n);
  in_.erase(0, n);
  return out;
}

std::optional<std::string> AgentHarness::RecvFrameBody(Millis timeout) {
  auto deadline = Clock::now() + timeout;
  auto header = RecvRaw(4, timeout);
  if (!header) return std::nullopt;
  auto b = [&](int i) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>((*header)[i]));
  };
  std::uint32_t len = (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
  auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
  auto body = RecvRaw(len, left.count() > 0 ? left : Millis(1));
  if (!body) in_.insert(0, *header);
  return body;
}

bool AgentHarness::ExpectMarker(Millis timeout) {
  auto deadline = Clock::now() + timeout;
  const size_t m = proto::kSyncMarker.size();
  while (in_.size() < m) {
    auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    if (left.count() <= 0 || !Fill(left)) break;
  }
  if (in_.size() >= m && std::string_view(in_).substr(0, m) == proto::kSyncMarker) {
    in_.erase(0, m);
    return true;
  }
  return false;
}

void AgentHarness::ShutdownWrite() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void AgentHarness::CloseSocket() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool AgentHarness::Send(const Envelope& e) { return SendRaw(proto::encode_envelope(e)); }

std::int64_t AgentHarness::Request(const std::string& kind, Value payload) {
  std::int64_t id = NextId();
  Send({id, kind, std::move(payload)});
  return id;
}

std::optional<Envelope> AgentHarness::PopFrame() {
  if (in_.size() < 4) return std::nullopt;
  auto b = [&](int i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(in_[i])); };
  std::uint32_t len = (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
  if (in_.size() < 4 + static_cast<size_t>(len)) return std::nullopt;
  std::string body = in_.substr(4, len);
  in_.erase(0, 4 + static_cast<size_t>(len));
  try {
    return proto::decode_envelope(body);
  } catch (const std::exception& e) {
    return Envelope{-1, "<undecodable>", Value{std::string(e.what())}};
  }
}

std::optional<Envelope> AgentHarness::NextAny(Millis timeout) {
  if (!queued_.empty()) {
    Envelope e = std::move(queued_.front());
    queued_.pop_front();
    return e;
  }
  auto deadline = Clock::now() + timeout;
  while (true) {
    if (auto e = PopFrame()) return e;
    auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    if (left.count() <= 0 || !Fill(left)) return std::nullopt;
  }
}

std::optional<Envelope> AgentHarness::NextFor(std::int64_t id, Millis timeout) {
  for (auto it = queued_.begin(); it != queued_.end(); ++it) {
    if (it->id == id) {
      Envelope e = std::move(*it);
      queued_.erase(it);
      return e;
    }
  }
  auto deadline = Clock::now() + timeout;
  while (true) {
    while (auto e = PopFrame()) {
      if (e->id == id) return e;
      queued_.push_back(std::move(*e));
    }
    auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    if (left.count() <= 0 || !Fill(left)) return std::nullopt;
  }
}

Reply AgentHarness::Await(std::int64_t id, Millis timeout) {
  Reply r;
  auto deadline = Clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    auto e = left.count() > 0 ? NextFor(id, left) : std::nullopt;
    if (!e) {
      r.timed_out = true;
      r.env = Envelope{id, "<timeout>", Value{}};
      return r;
    }
    if (e->kind == "exec_output" || e->kind == "stream_frame" || e->kind == "stream_end") {
      r.extras.push_back(std::move(*e));
      continue;
    }
    r.env = std::move(*e);
    return r;
  }
}

Reply AgentHarness::Call(const std::string& kind, Value payload, Millis timeout) {
  return Await(Request(kind, std::move(payload)), timeout);
}

bool AgentHarness::WaitEof(Millis timeout, std::string* extra) {
  auto deadline = Clock::now() + timeout;
  while (!eof_) {
    auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    Fill(left);
  }
  if (extra) *extra = in_;
  return true;
}

std::optional<int> AgentHarness::WaitExit(Millis timeout) {
  if (exited_) return exit_status_;
  if (pid_ <= 0) return std::nullopt;
  auto deadline = Clock::now() + timeout;
  while (true) {
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      exit_status_ = st;
      return st;
    }
    if (r < 0 && errno != EINTR) return std::nullopt;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(Millis(10));
  }
}

// ---- TempDir ------------------------------------------------------------------------------------

TempDir::TempDir() {
  char tmpl[] = "/tmp/provium-agent-test-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string ReadHostFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteHostFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

}  // namespace provium::agent_test
