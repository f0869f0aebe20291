// The agent's side of one connection: sync-marker hunting, the hello handshake, and request
// dispatch. Requests run concurrently (each on a short-lived thread); replies and stream
// frames share one writer so every frame goes out in one piece.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <deque>
#include <string>

#include "proto/protocol.hpp"

namespace provium::agent {

class Connection;
struct Request;
using Handler = void (*)(Request&);

/// One request being served.
struct Request {
  std::int64_t id;
  std::string kind;
  proto::Value payload;
  Connection* conn;
  std::shared_ptr<std::atomic<bool>> cancelled;
  /// When set (batch items), replies are captured here instead of sent.
  std::function<void(const std::string& kind, proto::Value payload)> capture;

  /// Sends `<kind>_result` with `value` (an OpResult or a plain shape).
  void reply(proto::Value value) const;
  /// False once the transport failed (a producer should stop).
  bool send(const std::string& kind, proto::Value payload) const;
};

/// Flow-controlled stream state shared between the producer thread and credit updates.
struct StreamState {
  std::mutex mu;
  std::condition_variable cv;
  std::uint64_t credit = proto::kInitialStreamCredit;
  bool closed = false;
  /// Waits until `n` bytes of credit are available (or the stream closes); false if closed.
  bool take(std::uint64_t n);
};

class Connection {
 public:
  /// `fd` is read and written; `hunt` enables sync-marker hunting (every transport uses it).
  explicit Connection(int fd) : fd_(fd) {}

  /// Serves until EOF or a fatal transport error. Returns normally in both cases.
  void serve();

  /// Thread-safe frame output; false once the transport failed.
  bool send(std::int64_t id, const std::string& kind, proto::Value payload);

  std::shared_ptr<StreamState> open_stream(std::int64_t id);
  void close_stream(std::int64_t id);

 private:
  bool hunt_marker(std::string& buf);
  void dispatch(proto::Envelope env);
  void run_request(Handler h, proto::Envelope env, std::shared_ptr<std::atomic<bool>> cancelled);
  void drain_handle(std::int64_t handle);

  struct Queued {
    Handler handler = nullptr;
    proto::Envelope env;
    std::shared_ptr<std::atomic<bool>> cancelled;
  };

  int fd_;
  std::mutex write_mu_;
  bool broken_ = false;
  bool hello_done_ = false;
  std::mutex mu_;
  std::map<std::int64_t, std::shared_ptr<std::atomic<bool>>> inflight_;
  std::map<std::int64_t, std::shared_ptr<StreamState>> streams_;
  std::map<std::int64_t, std::deque<Queued>> handle_queues_;  // order-sensitive ops per handle
  std::atomic<int> running_{0};
  std::condition_variable idle_cv_;
};

/// The handler for an op kind (nullptr: unsupported).
Handler find_handler(const std::string& kind);

/// Reply helpers used by the op files.
void reply_os_error(Request& r, int err, const std::string& context = {});

}  // namespace provium::agent
