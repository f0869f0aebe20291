// Test harness for the real `provium-agent` binary: spawns it with `--fd N` on one end of a
// socketpair, speaks the wire protocol (REFERENCE §6.3-6.8) on the other end, and never blocks
// without a deadline, so an agent bug fails a test instead of hanging the suite.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proto/codec.hpp"
#include "proto/protocol.hpp"
#include "proto/value.hpp"

namespace provium::agent_test {

using proto::Envelope;
using proto::Value;
using Millis = std::chrono::milliseconds;

inline constexpr Millis kDefaultTimeout{10000};

// ---- Value builders -------------------------------------------------------------------------

Value Obj(std::initializer_list<std::pair<const std::string, Value>> kv);
Value Arr(std::initializer_list<Value> xs);
Value Bin(std::string bytes);
Value Int(std::int64_t x);
/// ExecArgs for the shell form: cmd=/bin/sh, args=[-c, script].
Value ShellExec(const std::string& script);
/// ExecArgs for the argv form.
Value ArgvExec(const std::string& cmd, std::vector<std::string> args);
/// Returns `base` (a map) with `key` set to `v`.
Value With(Value base, const std::string& key, Value v);

// ---- Value accessors (lenient: a missing key yields nil, a wrong type a sentinel) ----------

const Value& Get(const Value& v, const std::string& key);
bool Has(const Value& v, const std::string& key);
std::int64_t AsInt(const Value& v);  // INT64_MIN when not an integer
std::string AsStr(const Value& v);   // "<not a string>" when not a string
std::string AsBin(const Value& v);   // "<not bin>" when not bin
bool IsBin(const Value& v);
/// Compact JSON-like rendering for failure messages.
std::string Describe(const Value& v);
std::string Describe(const Envelope& e);
std::string Hex(std::string_view bytes);

/// True when `v` is an OpResult ok.
bool IsOk(const Value& op_result);
/// errno of an OpResult err (-1 when not an error).
std::int64_t ErrnoOf(const Value& op_result);
/// The value of an OpResult.
const Value& ValueOf(const Value& op_result);

// ---- The agent process ------------------------------------------------------------------------

/// The reply to one request plus the side frames (exec_output, stream_frame, stream_end) that
/// arrived for the same id before it.
struct Reply {
  bool timed_out = false;
  Envelope env;                  // the final reply (kind "<op>_result", agent_error, pong, ...)
  std::vector<Envelope> extras;  // side frames for the same id, in arrival order
  const Value& payload() const { return env.payload; }
  const std::string& kind() const { return env.kind; }
};

class AgentHarness {
 public:
  /// Spawns the agent; when `handshake`, also performs marker + hello and checks hello_ok.
  explicit AgentHarness(bool handshake = true);
  ~AgentHarness();
  AgentHarness(const AgentHarness&) = delete;
  AgentHarness& operator=(const AgentHarness&) = delete;

  /// Whether construction (spawn + optional handshake) succeeded.
  bool ok() const { return ok_; }
  pid_t agent_pid() const { return pid_; }
  const Envelope& hello_ok() const { return hello_ok_; }

  /// Sends the marker and hello {protocol_version: version}; reads the marker (if any) and the
  /// reply. Returns nullopt on timeout/EOF.
  std::optional<Envelope> Handshake(std::int64_t version = proto::kProtocolVersion,
                                    Millis timeout = kDefaultTimeout);

  // Raw transport.
  bool SendRaw(std::string_view bytes);
  /// Reads exactly `n` raw bytes (from the receive buffer first); nullopt on timeout/EOF.
  std::optional<std::string> RecvRaw(size_t n, Millis timeout = kDefaultTimeout);
  /// Reads the next whole frame body raw (no decoding); nullopt on timeout/EOF.
  std::optional<std::string> RecvFrameBody(Millis timeout = kDefaultTimeout);
  /// Consumes the sync marker if the buffered input starts with it. Waits for up to 16 bytes.
  bool ExpectMarker(Millis timeout = kDefaultTimeout);
  /// Closes our end for writing (the agent then sees EOF).
  void ShutdownWrite();
  void CloseSocket();

  // Envelope level.
  std::int64_t NextId() { return next_id_++; }
  bool Send(const Envelope& e);
  /// Sends `kind` with a fresh id; returns the id.
  std::int64_t Request(const std::string& kind, Value payload = Value{proto::Map{}});
  /// The next frame for `id` (queued ones first); nullopt on timeout/EOF.
  std::optional<Envelope> NextFor(std::int64_t id, Millis timeout = kDefaultTimeout);
  /// The next frame of any id (queued ones first).
  std::optional<Envelope> NextAny(Millis timeout = kDefaultTimeout);
  /// Waits for the final reply of `id`, collecting side frames.
  Reply Await(std::int64_t id, Millis timeout = kDefaultTimeout);
  /// Request + Await.
  Reply Call(const std::string& kind, Value payload = Value{proto::Map{}},
             Millis timeout = kDefaultTimeout);
  /// Drains every frame for `id` until `pred` holds for one (that frame is returned) or timeout.
  /// Frames passed over are appended to `seen` when non-null.
  template <typename Pred>
  std::optional<Envelope> WaitFor(std::int64_t id, Pred pred, Millis timeout,
                                  std::vector<Envelope>* seen = nullptr) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      auto e = NextFor(id, left);
      if (!e) return std::nullopt;
      if (pred(*e)) return e;
      if (seen) seen->push_back(std::move(*e));
    }
  }

  /// Whether the peer closed the connection (EOF seen on read) within `timeout`, with no
  /// further bytes. Returns the number of unexpected bytes read via `extra` when non-null.
  bool WaitEof(Millis timeout = Millis(5000), std::string* extra = nullptr);
  /// Waits for the agent process to exit; returns its wait status, nullopt on timeout.
  std::optional<int> WaitExit(Millis timeout = Millis(5000));

 private:
  /// Reads more bytes into in_ (waiting up to `timeout`); false on timeout or EOF.
  bool Fill(Millis timeout);
  std::optional<Envelope> PopFrame();

  bool ok_ = false;
  int fd_ = -1;
  pid_t pid_ = -1;
  bool exited_ = false;
  int exit_status_ = 0;
  bool eof_ = false;
  std::string in_;
  std::deque<Envelope> queued_;
  std::int64_t next_id_ = 1;
  Envelope hello_ok_;
};

// ---- Temp dirs ---------------------------------------------------------------------------------

/// A mkdtemp directory under /tmp, removed recursively on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string ReadHostFile(const std::string& path);
void WriteHostFile(const std::string& path, const std::string& data);

}  // namespace provium::agent_test
