// The main agent's end of one worker (REFERENCE §6.10): the worker is this binary re-executed
// with `--worker-fd N` on one end of a socketpair; the link speaks the ordinary protocol to it.
// Many requests share the link at once: each opens a slot (its own request id on the link),
// and one reader thread routes every frame from the worker to its slot, so a slow relayed
// request never holds up another.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "agent/state.hpp"
#include "agent/worker_creds.hpp"
#include "proto/protocol.hpp"

namespace provium::agent {

class WorkerLink : public std::enable_shared_from_this<WorkerLink> {
 public:
  /// Frames from the worker for one request id, in arrival order.
  struct Slot {
    std::deque<proto::Envelope> frames;
  };

  /// Starts a worker with `creds` and completes the handshake. Throws OsError when the worker
  /// cannot start or refuses its credentials (errno of the failed step).
  static std::shared_ptr<WorkerLink> start(const WorkerCreds& creds);
  ~WorkerLink();
  WorkerLink(const WorkerLink&) = delete;
  WorkerLink& operator=(const WorkerLink&) = delete;

  pid_t pid() const { return pid_; }

  /// Sends a request; returns its id on the link, or nullopt when the worker is gone.
  std::optional<std::int64_t> open(const std::string& kind, proto::Value payload);
  /// The next frame for `id`; nullopt on timeout or when the worker is gone (see alive()).
  std::optional<proto::Envelope> next(std::int64_t id, std::chrono::milliseconds timeout);
  /// Forgets a request (late frames for it are dropped).
  void close(std::int64_t id);
  /// cancel / stream_credit / stream_close for a request on the link: {target: id, ...}.
  void control(const std::string& kind, std::int64_t target, std::int64_t bytes = -1);

  bool alive() const;
  /// Why the worker is gone ("exited with status 3", "killed by signal 9 (KILL)", "joined").
  std::string cause() const;
  /// Ends the worker: closes the socket (the worker exits when it sees EOF).
  void shutdown(const std::string& why);

 private:
  WorkerLink(int fd, pid_t pid, std::shared_ptr<Process> proc)
      : fd_(fd), pid_(pid), proc_(std::move(proc)) {}
  void reader(proto::FrameSplitter splitter);
  void mark_dead(const std::string& why);
  bool write_frame(const std::string& frame);

  int fd_;
  pid_t pid_;
  std::shared_ptr<Process> proc_;  // receives the worker's exit status from the reaper
  std::mutex write_mu_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::int64_t next_id_ = 1;
  std::map<std::int64_t, Slot> slots_;
  bool dead_ = false;
  std::string cause_;
};

/// "exited with status N" / "killed by signal N (NAME)" for a wait status.
std::string describe_wait_status(int status);

}  // namespace provium::agent
