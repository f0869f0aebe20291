// A QMP client (QEMU Machine Protocol, JSON lines over a unix socket). Synchronous: `execute`
// writes one command and reads lines until its reply, keeping any asynchronous events that
// arrive meanwhile, so `wait_event` can match events that came before it was called (guarded
// by marks, so stale events never match). Every call has a deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace provium::vmm::qemu {

class QmpError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Qmp {
 public:
  using Json = nlohmann::json;
  using Clock = std::chrono::steady_clock;

  Qmp() = default;
  ~Qmp();
  Qmp(const Qmp&) = delete;
  Qmp& operator=(const Qmp&) = delete;

  /// Connects (retrying until `deadline` while the socket does not accept yet), reads the
  /// greeting and negotiates capabilities. `alive` is polled between retries: a QEMU that
  /// exits early ends the wait at once.
  void connect(const std::string& path, Clock::time_point deadline,
               const std::function<bool()>& alive);
  bool connected() const { return fd_ >= 0; }
  void close();

  /// Runs a command; returns its "return" value. Throws QmpError with QEMU's `desc` on an
  /// error reply, on a dead socket, or when no reply comes within `timeout`.
  Json execute(const std::string& command, const Json& args = Json::object(),
               std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// `execute` with a file descriptor passed alongside (SCM_RIGHTS), as `getfd` needs.
  Json execute_with_fd(const std::string& command, const Json& args, int fd,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10));

  /// A position in the event history: only events received after it match in wait_event.
  std::uint64_t mark() const;
  /// Waits for an event named `name` received after `since` for which `match` holds.
  Json wait_event(const std::string& name, std::uint64_t since, std::chrono::milliseconds timeout,
                  const std::function<bool(const Json&)>& match = nullptr);

 private:
  struct Event {
    std::uint64_t seq;
    Json body;
  };
  void send_line(const std::string& line, int fd_to_pass);
  /// Reads one JSON message, or nullopt at the deadline. Throws QmpError on EOF.
  std::optional<Json> read_message(Clock::time_point deadline);
  Json await_reply(Clock::time_point deadline, const std::string& what);

  int fd_ = -1;
  std::string inbuf_;
  mutable std::recursive_mutex mu_;
  std::deque<Event> events_;
  std::uint64_t next_seq_ = 1;
};

}  // namespace provium::vmm::qemu
