// The host's end of one agent connection (REFERENCE §6.4-6.8): one persistent, multiplexed
// connection per VM. Any thread may issue requests; one reader thread routes replies by id,
// collects exec_output chunks, and feeds stream channels. Waiting callers can be interrupted
// (timeouts, Ctrl-C): the request is then cancelled on the agent.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "proto/protocol.hpp"

namespace provium::client {

/// The agent or the transport failed; the message is user-facing ("agent: ...").
class AgentError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The wait was interrupted by the caller's predicate; `what()` is the interrupt's message.
class Interrupted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Returns a non-empty message when the caller must stop waiting.
using InterruptCheck = std::function<std::string()>;

/// An open agent stream: chunks arrive in order; `credit` is returned as they are consumed.
class StreamChannel {
 public:
  /// Next chunk, "" with eof()=true at the end, nullopt on timeout.
  std::optional<std::string> next(std::chrono::milliseconds timeout, const InterruptCheck& intr);
  bool ended() const;
  std::string end_reason() const;
  void close();
  /// True until closed or ended (snapshots refuse while any stream is live).
  bool live() const;
  /// Streams fed by the host itself (the console): append a chunk; end with `reason`.
  void deliver(std::string chunk);
  void finish(std::string reason);
  bool closed() const;

  /// `kind("detail") at file:line` for the snapshot refusal; set once by whoever opened it.
  std::string label;

 private:
  friend class AgentClient;
  std::weak_ptr<class AgentClient> owner_;
  std::int64_t id_ = 0;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> chunks_;
  bool ended_ = false, closed_ = false;
  std::string end_reason_;
};

struct Reply {
  std::string kind;
  proto::Value payload;
  std::string stdout_prefix, stderr_prefix;  // exec_output chunks that preceded the reply
};

class AgentClient : public std::enable_shared_from_this<AgentClient> {
 public:
  /// Takes ownership of `fd` (a connected socket or a serial line). Create with make_shared:
  /// streams keep a weak reference to return credit.
  explicit AgentClient(int fd);
  ~AgentClient();
  AgentClient(const AgentClient&) = delete;
  AgentClient& operator=(const AgentClient&) = delete;

  /// Sends the sync marker and hello; waits for hello_ok. Returns the `agent` info map.
  /// Throws AgentError on mismatch, EOF or timeout.
  proto::Value handshake(std::chrono::milliseconds timeout);

  /// One request/reply. `agent_error` replies throw AgentError("agent: <kind>: <message>").
  Reply call(const std::string& kind, proto::Value payload, const InterruptCheck& intr = nullptr);

  /// Opens a stream op; throws on an error OpResult (message prefixed by `what`).
  std::shared_ptr<StreamChannel> open_stream(const std::string& kind, proto::Value payload,
                                             const std::string& what);

  bool alive() const;
  /// Labels of the streams still live on this connection.
  std::vector<std::string> live_stream_labels() const;
  std::string dead_cause() const;
  /// Closes the transport; pending calls fail.
  void shutdown();

 private:
  friend class StreamChannel;
  struct Pending {
    std::optional<Reply> reply;
    std::string out_prefix, err_prefix;
  };
  void reader();
  /// Hands one received frame to its waiter, stream or the handshake.
  void route(proto::Envelope env);
  void send(std::int64_t id, const std::string& kind, proto::Value payload);
  void fail_all(const std::string& cause);
  void credit(std::int64_t id, std::uint64_t bytes);
  void close_stream(std::int64_t id);

  int fd_;
  std::mutex write_mu_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::int64_t next_id_ = 1;
  std::map<std::int64_t, std::shared_ptr<Pending>> pending_;
  std::map<std::int64_t, std::shared_ptr<StreamChannel>> streams_;
  std::optional<Reply> hello_reply_;
  bool dead_ = false;
  std::string dead_cause_;
  std::thread reader_;
};

/// "<method>: <message> (errno N)" for an err OpResult, or nullopt when it is ok. `value`
/// receives the ok value.
std::optional<std::string> op_error(const proto::Value& op_result, const std::string& method,
                                    proto::Value* value = nullptr);

}  // namespace provium::client
