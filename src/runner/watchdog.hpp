// One thread that enforces every running file's deadlines (file and current test), polling
// every 50 ms, and escalates a cancellation that does not complete within the grace period.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "runner/interrupt.hpp"

namespace provium::runner {

using Clock = std::chrono::steady_clock;

class Watchdog {
 public:
  struct Entry;
  using Handle = std::list<Entry>::iterator;

  /// Grace given to a raised interrupt before `on_stuck` is called (REFERENCE §10.7: 5 s).
  explicit Watchdog(std::chrono::milliseconds grace = std::chrono::seconds(5));
  ~Watchdog();

  /// Registers a running file. `on_stuck` runs (on the watchdog thread, once) when an
  /// interrupt raised for it was not honoured within the grace period.
  Handle add(Interrupt* interrupt, std::optional<Clock::time_point> file_deadline,
             std::string file_message, std::function<void()> on_stuck);
  void remove(Handle h);
  void set_test_deadline(Handle h, std::optional<Clock::time_point> deadline, std::string message);
  /// The current test finished: its deadline no longer applies and a pending test interrupt is
  /// considered honoured.
  void clear_test_deadline(Handle h);
  /// Time the file spends parked in the pool (claim, boot, fixture build lock) is not charged
  /// to its deadlines (REFERENCE §10.7): between begin_wait and end_wait no deadline fires,
  /// and end_wait moves the file and test deadlines later by the time waited. Nests.
  void begin_wait(Handle h);
  void end_wait(Handle h);
  /// Raises `kind` on every registered file (Ctrl-C).
  void interrupt_all(InterruptKind kind, const std::string& message);

  struct Entry {
    Interrupt* interrupt;
    std::optional<Clock::time_point> file_deadline;
    std::string file_message;
    std::optional<Clock::time_point> test_deadline;
    std::string test_message;
    std::optional<Clock::time_point> raised_at;
    bool stuck_reported = false;
    std::function<void()> on_stuck;
    int waiting = 0;  // begin_wait depth
    Clock::time_point wait_started{};
  };

 private:
  void loop();

  std::chrono::milliseconds grace_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::list<Entry> entries_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace provium::runner
