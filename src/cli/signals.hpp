// Ctrl-C / SIGTERM handling: the signals are blocked in every thread and received by one
// thread, which stops the active run cleanly. A second signal ends the process at once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace provium::cli {

class StopSignal {
 public:
  /// Blocks SIGINT/SIGTERM for the calling thread (and threads created later) and starts the
  /// receiving thread. Call before creating any other thread.
  static StopSignal& install();

  bool requested() const { return requested_.load(); }
  /// Sleeps up to `d`; returns true early when a stop was requested.
  bool wait_for(std::chrono::milliseconds d);
  /// The action to run on the first signal (stops the current suite); replaced per run.
  void on_stop(std::function<void()> fn);
  /// Files removed if a second signal forces an immediate exit (temp files of --coverage).
  void remove_on_forced_exit(const std::string& path);

 private:
  void deliver();
  std::atomic<bool> requested_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> action_;
  std::vector<std::string> cleanup_;
};

}  // namespace provium::cli
