#include "agent/state.hpp"

#include <sys/wait.h>

#include <thread>

namespace provium::agent {

State& State::get() {
  static State* s = new State();  // lives for the agent's whole life
  return *s;
}

std::int64_t State::add_file(std::shared_ptr<OpenFile> f) {
  std::lock_guard lk(mu_);
  std::int64_t h = next_++;
  files_[h] = std::move(f);
  return h;
}

std::shared_ptr<OpenFile> State::file(std::int64_t h) {
  std::lock_guard lk(mu_);
  auto it = files_.find(h);
  return it == files_.end() ? nullptr : it->second;
}

bool State::remove_file(std::int64_t h) {
  std::lock_guard lk(mu_);
  return files_.erase(h) > 0;
}

std::int64_t State::add_process(std::shared_ptr<Process> p) {
  std::lock_guard lk(mu_);
  std::int64_t h = next_++;
  procs_[h] = std::move(p);
  return h;
}

std::shared_ptr<Process> State::process(std::int64_t h) {
  std::lock_guard lk(mu_);
  auto it = procs_.find(h);
  return it == procs_.end() ? nullptr : it->second;
}

void State::remove_process(std::int64_t h) {
  std::lock_guard lk(mu_);
  procs_.erase(h);
}

void State::watch_pid(pid_t pid, std::shared_ptr<Process> p) {
  std::optional<int> early;
  {
    std::lock_guard lk(mu_);
    if (auto it = early_.find(pid); it != early_.end()) {
      early = it->second;
      early_.erase(it);
    } else {
      by_pid_[pid] = p;
    }
  }
  if (early) {
    std::lock_guard lk(p->mu);
    p->wait_status = *early;
    p->cv.notify_all();
  }
}

void State::deliver_status(pid_t pid, int status) {
  std::shared_ptr<Process> p;
  {
    std::lock_guard lk(mu_);
    auto it = by_pid_.find(pid);
    if (it == by_pid_.end()) {
      // Either an orphan we inherited as PID 1 (nothing to do) or a child whose watch_pid
      // has not run yet; keep it briefly in case it is ours.
      if (early_.size() > 4096) early_.clear();
      early_[pid] = status;
      return;
    }
    p = it->second.lock();
    by_pid_.erase(it);
  }
  if (!p) return;
  std::lock_guard lk(p->mu);
  p->wait_status = status;
  p->cv.notify_all();
}

namespace {
std::mutex reaper_mu;
std::condition_variable reaper_cv;
bool reaper_kicked = false;
}  // namespace

void kick_reaper() {
  std::lock_guard lk(reaper_mu);
  reaper_kicked = true;
  reaper_cv.notify_all();
}

void start_reaper() {
  std::thread([] {
    while (true) {
      int status = 0;
      pid_t pid = ::waitpid(-1, &status, __WALL);
      if (pid > 0) {
        State::get().deliver_status(pid, status);
      } else if (errno == ECHILD) {
        std::unique_lock lk(reaper_mu);
        reaper_cv.wait_for(lk, std::chrono::seconds(1), [] { return reaper_kicked; });
        reaper_kicked = false;
      }
    }
  }).detach();
}

}  // namespace provium::agent
