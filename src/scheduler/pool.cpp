#include "scheduler/pool.hpp"

#include <fmt/format.h>

namespace provium::scheduler {

Amount& Amount::operator-=(const Amount& o) {
  memory = memory > o.memory ? memory - o.memory : 0;
  cpus = cpus > o.cpus ? cpus - o.cpus : 0;
  return *this;
}

Amount operator+(Amount a, const Amount& b) { return a += b; }

std::string describe(const Amount& a) {
  std::uint64_t m = a.memory;
  std::string mem;
  if (m % (1ull << 30) == 0 && m >= (1ull << 30))
    mem = fmt::format("{} GiB", m >> 30);
  else if (m % (1ull << 20) == 0)
    mem = fmt::format("{} MiB", m >> 20);
  else if (m >= (1ull << 20))
    mem = fmt::format("{:.1f} MiB", static_cast<double>(m) / (1 << 20));
  else
    mem = fmt::format("{} bytes", m);
  return fmt::format("{} + {} vCPU{}", mem, a.cpus, a.cpus == 1 ? "" : "s");
}

Pool::Pool(Amount total) : total_(total) {}

Amount Pool::used_locked() const {
  Amount u;
  for (auto& [id, h] : holders_) u += h.held;
  return u;
}

Amount Pool::used() const {
  std::lock_guard lk(mu_);
  return used_locked();
}

Amount Pool::free() const {
  std::lock_guard lk(mu_);
  Amount f = total_;
  f -= used_locked();
  return f;
}

Pool::HolderId Pool::add_holder(std::string name) {
  std::lock_guard lk(mu_);
  HolderId id = next_id_++;
  holders_[id].name = std::move(name);
  return id;
}

void Pool::remove_holder(HolderId id) {
  std::function<void()> cb;
  {
    std::lock_guard lk(mu_);
    holders_.erase(id);
    cb = on_release_;
  }
  cv_.notify_all();
  if (cb) cb();
}

bool Pool::try_acquire(HolderId id, const Amount& amount) {
  std::lock_guard lk(mu_);
  auto it = holders_.find(id);
  if (it == holders_.end()) return false;
  Amount free = total_;
  free -= used_locked();
  if (!amount.fits_in(free)) return false;
  it->second.held += amount;
  return true;
}

// Parking `amount` for `id` deadlocks when, with it parked, every holder that holds anything
// is parked (so nothing will be released) and no parked request fits in what is free (so
// nothing will be granted either).
std::optional<std::string> Pool::deadlock_locked(HolderId id, const Amount& amount,
                                                 const std::string& what) const {
  Amount free = total_;
  free -= used_locked();
  for (auto& [hid, h] : holders_) {
    if (hid == id) continue;
    if (!h.held.empty() && !h.parked) return std::nullopt;  // a running holder may release
    if (h.parked && h.parked->fits_in(free)) return std::nullopt;
  }
  std::string holdings;
  for (auto& [hid, h] : holders_) {
    if (h.held.empty() && hid != id) continue;
    holdings +=
        fmt::format("{}{} holds {}", holdings.empty() ? "" : "; ", h.name, describe(h.held));
    if (hid == id)
      holdings += fmt::format(" and asks for {}", describe(amount));
    else if (h.parked)
      holdings += fmt::format(" and waits for {} ({})", describe(*h.parked), h.parked_what);
  }
  return fmt::format(
      "pool deadlock: {} needs {} but only {} of the pool's {} is free, and every file holding "
      "the rest is itself waiting, so no request can ever be granted ({}); declare each file's "
      "peak up front with provium:claim{{memory = ..., cpus = ...}} so a file never holds part of "
      "what it needs while waiting for the rest",
      what, describe(amount), describe(free), describe(total_), holdings);
}

Pool::Outcome Pool::acquire(HolderId id, const Amount& amount, const std::string& what,
                            const std::function<std::optional<std::string>()>& cancelled,
                            const std::function<void()>& on_park) {
  Outcome out;
  if (!amount.fits_in(total_)) {
    out.error = fmt::format(
        "{} needs {}, which exceeds pool total {}; lower the request or raise "
        "--mem / --cpus (--cpu-overcommit)",
        what, describe(amount), describe(total_));
    return out;
  }
  std::unique_lock lk(mu_);
  auto it = holders_.find(id);
  if (it == holders_.end()) {
    out.error = fmt::format("{}: internal error: the file holds no pool account", what);
    return out;
  }
  auto fits = [&] {
    Amount free = total_;
    free -= used_locked();
    return amount.fits_in(free);
  };
  if (!fits()) {
    // The file's own holdings never come back while it waits: beyond total - held, never.
    if (!(amount + it->second.held).fits_in(total_)) {
      Amount room = total_;
      room -= it->second.held;
      out.error = fmt::format(
          "{} needs {} but the file already holds {} of the pool's {}, so at most {} can ever "
          "be granted to it; shut down VMs the file no longer needs first, or raise --mem / "
          "--cpus",
          what, describe(amount), describe(it->second.held), describe(total_), describe(room));
      return out;
    }
    if (auto dl = deadlock_locked(id, amount, what)) {
      out.error = *dl;
      return out;
    }
    it->second.parked = amount;
    it->second.parked_what = what;
    if (on_park) {
      lk.unlock();
      on_park();
      lk.lock();
    }
    auto started = std::chrono::steady_clock::now();
    auto give_up = [&](std::string why) {
      if (auto h = holders_.find(id); h != holders_.end()) h->second.parked.reset();
      out.error = std::move(why);
      out.waited = std::chrono::steady_clock::now() - started;
      return out;
    };
    while (!fits()) {
      cv_.wait_for(lk, std::chrono::milliseconds(50));
      if (holders_.find(id) == holders_.end())
        return give_up(fmt::format("{}: the file's pool account was closed", what));
      // What was free enough to wait for can stop being so (the holder that would have
      // released has left): parked requests re-check the rule under the lock, and the first
      // to see the deadlock un-parks, so the others see a holder that will release.
      if (!fits())
        if (auto dl = deadlock_locked(id, amount, what)) return give_up(*dl);
      if (cancelled) {
        lk.unlock();
        auto why = cancelled();
        lk.lock();
        if (why) return give_up(*why);
      }
    }
    out.waited = std::chrono::steady_clock::now() - started;
    it = holders_.find(id);
    if (it == holders_.end())
      return give_up(fmt::format("{}: the file's pool account was closed", what));
    it->second.parked.reset();
  }
  it->second.held += amount;
  out.granted = true;
  return out;
}

void Pool::release(HolderId id, const Amount& amount) {
  std::function<void()> cb;
  {
    std::lock_guard lk(mu_);
    if (auto it = holders_.find(id); it != holders_.end()) it->second.held -= amount;
    cb = on_release_;
  }
  cv_.notify_all();
  if (cb) cb();
}

void Pool::on_release(std::function<void()> f) {
  std::lock_guard lk(mu_);
  on_release_ = std::move(f);
}

}  // namespace provium::scheduler
