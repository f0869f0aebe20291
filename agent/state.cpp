#include "agent/state.hpp"

#include <sys/wait.h>

#include <atomic>
#include <thread>

namespace provium::agent {

State& State::get() {
  static State* s = new State();  // lives for the agent's whole life
  return *s;
}

// One handle counter for every table: handles are never reused within the agent's life.
template <typename T>
std::int64_t State::insert(std::map<std::int64_t, std::shared_ptr<T>>& table,
                           std::shared_ptr<T> v) {
  std::lock_guard lk(mu_);
  std::int64_t h = next_++;
  table[h] = std::move(v);
  return h;
}

template <typename T>
std::shared_ptr<T> State::lookup(std::map<std::int64_t, std::shared_ptr<T>>& table,
                                 std::int64_t h) {
  std::lock_guard lk(mu_);
  auto it = table.find(h);
  return it == table.end() ? nullptr : it->second;
}

template <typename T>
bool State::erase(std::map<std::int64_t, std::shared_ptr<T>>& table, std::int64_t h) {
  std::lock_guard lk(mu_);
  return table.erase(h) > 0;
}

std::int64_t State::add_file(std::shared_ptr<OpenFile> f) { return insert(files_, std::move(f)); }
std::shared_ptr<OpenFile> State::file(std::int64_t h) { return lookup(files_, h); }
bool State::remove_file(std::int64_t h) { return erase(files_, h); }
std::int64_t State::add_process(std::shared_ptr<Process> p) { return insert(procs_, std::move(p)); }
std::shared_ptr<Process> State::process(std::int64_t h) { return lookup(procs_, h); }
void State::remove_process(std::int64_t h) { erase(procs_, h); }

std::int64_t State::reserve_handle() {
  std::lock_guard lk(mu_);
  return next_++;
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

namespace {
std::atomic<bool> vm_guest{false};
}  // namespace

bool serving_vm_guest() { return vm_guest.load(); }
void set_serving_vm_guest() { vm_guest.store(true); }

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
