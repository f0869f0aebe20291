#include "runner/interrupt.hpp"

namespace provium::runner {

void Interrupt::raise(InterruptKind kind, std::string message) {
  {
    std::lock_guard lk(mu_);
    if (static_cast<int>(kind) <= static_cast<int>(kind_.load())) return;
    message_ = std::move(message);
    kind_.store(kind, std::memory_order_release);
  }
  cv_.notify_all();
}

void Interrupt::clear_test_level() {
  std::lock_guard lk(mu_);
  if (kind_.load() == InterruptKind::TestTimeout) {
    kind_.store(InterruptKind::None);
    message_.clear();
  }
}

std::string Interrupt::message() const {
  std::lock_guard lk(mu_);
  return message_;
}

bool Interrupt::sleep_for(std::chrono::duration<double> d) {
  std::unique_lock lk(mu_);
  auto until = std::chrono::steady_clock::now() +
               std::chrono::duration_cast<std::chrono::steady_clock::duration>(d);
  return !cv_.wait_until(lk, until, [&] { return kind_.load() != InterruptKind::None; });
}

}  // namespace provium::runner
