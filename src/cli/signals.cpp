#include "cli/signals.hpp"

#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <thread>

namespace provium::cli {

StopSignal& StopSignal::install() {
  static StopSignal* instance = [] {
    auto* s = new StopSignal();  // process lifetime: the receiving thread uses it until exit
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread([s, set] {
      int count = 0;
      while (true) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (++count > 1) {
          fmt::print(stderr, "\nprovium: interrupted again; exiting now\n");
          {
            std::lock_guard lk(s->mu_);
            for (auto& f : s->cleanup_) ::unlink(f.c_str());
          }
          std::_Exit(1);
        }
        s->deliver();
      }
    }).detach();
    return s;
  }();
  return *instance;
}

void StopSignal::deliver() {
  std::function<void()> action;
  {
    std::lock_guard lk(mu_);
    requested_.store(true);
    action = action_;
  }
  cv_.notify_all();
  if (action) action();
}

bool StopSignal::wait_for(std::chrono::milliseconds d) {
  std::unique_lock lk(mu_);
  return cv_.wait_for(lk, d, [&] { return requested_.load(); });
}

void StopSignal::remove_on_forced_exit(const std::string& path) {
  std::lock_guard lk(mu_);
  cleanup_.push_back(path);
}

void StopSignal::on_stop(std::function<void()> fn) {
  bool fire;
  {
    std::lock_guard lk(mu_);
    action_ = std::move(fn);
    fire = requested_.load() && action_;
  }
  if (fire) action_();
}

}  // namespace provium::cli
