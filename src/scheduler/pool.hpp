// The resource pool of one invocation (REFERENCE §10): memory and vCPUs that running files and
// their VMs hold. Requests that do not fit wait ("park") until a release makes room; a request
// that can never be granted fails at once, either because it is larger than the whole pool or
// because parking it would complete a deadlock (every holder parked, nothing parked fits).
//
// Pure bookkeeping with a mutex and a condition variable: no Lua, no VMs, no events, so the
// arithmetic and the deadlock rule are unit-tested directly.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace provium::scheduler {

struct Amount {
  std::uint64_t memory = 0;  // bytes
  std::uint32_t cpus = 0;

  bool fits_in(const Amount& free) const { return memory <= free.memory && cpus <= free.cpus; }
  Amount& operator+=(const Amount& o) {
    memory += o.memory;
    cpus += o.cpus;
    return *this;
  }
  Amount& operator-=(const Amount& o);  // saturating at zero
  bool operator==(const Amount&) const = default;
  bool empty() const { return memory == 0 && cpus == 0; }
};
Amount operator+(Amount a, const Amount& b);

/// "612 MiB + 1 vCPU" (sizes in the unit a person would write in a claim).
std::string describe(const Amount& a);

/// What the per-VM charge is for a VM of `memory` bytes and `cpus` vCPUs (REFERENCE §10.2).
inline constexpr std::uint64_t kVmmOverheadBytes = 100ull << 20;
inline constexpr std::uint64_t kFileOverheadBytes = 50ull << 20;
inline Amount vm_charge(std::uint64_t memory, std::uint32_t cpus) {
  return {memory + kVmmOverheadBytes, cpus};
}

class Pool {
 public:
  using HolderId = std::uint64_t;

  explicit Pool(Amount total);

  Amount total() const { return total_; }
  Amount used() const;
  Amount free() const;

  /// A holder is one running file (named by its path in messages).
  HolderId add_holder(std::string name);
  /// Drops a holder; whatever it still holds is returned to the pool.
  void remove_holder(HolderId id);

  /// Grants `amount` now or not at all (the dispatcher's per-file overhead).
  bool try_acquire(HolderId id, const Amount& amount);

  struct Outcome {
    bool granted = false;
    std::string error;                   // why not, when not granted
    std::chrono::nanoseconds waited{0};  // time spent parked
  };
  /// Blocks until `amount` is granted to `holder`. Fails at once when it exceeds the pool
  /// total or when parking it would deadlock. `what` describes the request in messages
  /// ("vm:boot of `b`"). `cancelled` is polled while parked (every 50 ms); when it returns a
  /// message the request gives up with it. `on_park` runs once, before the first wait.
  Outcome acquire(HolderId id, const Amount& amount, const std::string& what,
                  const std::function<std::optional<std::string>()>& cancelled = nullptr,
                  const std::function<void()>& on_park = nullptr);

  void release(HolderId id, const Amount& amount);

  /// Called (outside the lock) after every release, e.g. to wake a dispatcher.
  void on_release(std::function<void()> f);

 private:
  struct Holder {
    std::string name;
    Amount held;
    std::optional<Amount> parked;  // the request this holder waits for
    std::string parked_what;
  };
  Amount used_locked() const;
  std::optional<std::string> deadlock_locked(HolderId id, const Amount& amount,
                                             const std::string& what) const;

  const Amount total_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<HolderId, Holder> holders_;
  HolderId next_id_ = 1;
  std::function<void()> on_release_;
};

}  // namespace provium::scheduler
