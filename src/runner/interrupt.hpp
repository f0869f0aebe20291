// Interrupting a running file: the watchdog (timeouts) and Ctrl-C set an interrupt on a file's
// Interrupt; the Lua count hook and every blocking host call of the runner observe it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

namespace provium::runner {

enum class InterruptKind : int { None = 0, TestTimeout = 1, FileTimeout = 2, RunStopped = 3 };

class Interrupt {
 public:
  /// Raises an interrupt; a stronger kind (file > test) replaces a weaker one.
  void raise(InterruptKind kind, std::string message);
  /// Clears a test-level interrupt once the test body has unwound (file-level ones stay).
  void clear_test_level();
  InterruptKind kind() const { return kind_.load(std::memory_order_acquire); }
  bool pending() const { return kind() != InterruptKind::None; }
  std::string message() const;

  /// Sleeps up to `d`; returns false early when an interrupt is raised.
  bool sleep_for(std::chrono::duration<double> d);

 private:
  std::atomic<InterruptKind> kind_{InterruptKind::None};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string message_;
};

}  // namespace provium::runner
