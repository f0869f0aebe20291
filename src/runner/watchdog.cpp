#include "runner/watchdog.hpp"

#include <vector>

namespace provium::runner {

Watchdog::Watchdog(std::chrono::milliseconds grace) : grace_(grace), thread_([this] { loop(); }) {}

Watchdog::~Watchdog() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

Watchdog::Handle Watchdog::add(Interrupt* interrupt, std::optional<Clock::time_point> file_deadline,
                               std::string file_message, std::function<void()> on_stuck) {
  std::lock_guard lk(mu_);
  entries_.push_back(Entry{interrupt, file_deadline, std::move(file_message), std::nullopt, {},
                           std::nullopt, false, std::move(on_stuck)});
  return std::prev(entries_.end());
}

void Watchdog::remove(Handle h) {
  std::lock_guard lk(mu_);
  entries_.erase(h);
}

void Watchdog::set_test_deadline(Handle h, std::optional<Clock::time_point> deadline,
                                 std::string message) {
  std::lock_guard lk(mu_);
  h->test_deadline = deadline;
  h->test_message = std::move(message);
}

void Watchdog::clear_test_deadline(Handle h) {
  std::lock_guard lk(mu_);
  h->test_deadline.reset();
  auto k = h->interrupt->kind();
  if (k == InterruptKind::None || k == InterruptKind::TestTimeout) h->raised_at.reset();
}

void Watchdog::begin_wait(Handle h) {
  std::lock_guard lk(mu_);
  if (h->waiting++ == 0) h->wait_started = Clock::now();
}

void Watchdog::end_wait(Handle h) {
  std::lock_guard lk(mu_);
  if (h->waiting == 0 || --h->waiting > 0) return;
  auto waited = Clock::now() - h->wait_started;
  if (h->file_deadline) *h->file_deadline += waited;
  if (h->test_deadline) *h->test_deadline += waited;
}

void Watchdog::interrupt_all(InterruptKind kind, const std::string& message) {
  std::lock_guard lk(mu_);
  for (auto& e : entries_) {
    e.interrupt->raise(kind, message);
    if (!e.raised_at || kind != InterruptKind::TestTimeout) e.raised_at = Clock::now();
  }
}

void Watchdog::loop() {
  std::unique_lock lk(mu_);
  while (!stop_) {
    cv_.wait_for(lk, std::chrono::milliseconds(50));
    auto now = Clock::now();
    std::vector<std::function<void()>> stuck;
    for (auto& e : entries_) {
      if (e.waiting > 0) {
        // Parked in the pool: deadlines stand still, but a raised interrupt still escalates.
      } else if (e.file_deadline && now >= *e.file_deadline &&
          e.interrupt->kind() != InterruptKind::FileTimeout &&
          e.interrupt->kind() != InterruptKind::RunStopped) {
        e.interrupt->raise(InterruptKind::FileTimeout, e.file_message);
        e.raised_at = now;
      } else if (e.test_deadline && now >= *e.test_deadline && !e.interrupt->pending()) {
        e.interrupt->raise(InterruptKind::TestTimeout, e.test_message);
        e.raised_at = now;
        e.test_deadline.reset();
      }
      if (e.raised_at && !e.stuck_reported && now - *e.raised_at >= grace_) {
        e.stuck_reported = true;
        if (e.on_stuck) stuck.push_back(e.on_stuck);
      }
    }
    lk.unlock();
    for (auto& f : stuck) f();
    lk.lock();
  }
}

}  // namespace provium::runner
