// One file's view of the pool (REFERENCE §10.2–10.3): its VM charges, its optional claim, and
// the hooks that keep time spent waiting out of its deadlines.
//
// Without a claim every boot draws from the pool (and may wait there). With a claim the whole
// amount is drawn once, up front, and every boot takes a slice of it: a boot that does not fit
// fails at once instead of waiting. Fixture builds draw from the pool under the same file but
// never from its claim (for_fixture_build()).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "scheduler/pool.hpp"

namespace provium::scheduler {

class Account;

/// A granted charge, returned when destroyed (move-only).
class Reservation {
 public:
  Reservation() = default;
  Reservation(std::shared_ptr<Account> account, Amount amount, bool from_claim)
      : account_(std::move(account)), amount_(amount), from_claim_(from_claim) {}
  Reservation(Reservation&& o) noexcept { *this = std::move(o); }
  Reservation& operator=(Reservation&& o) noexcept;
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;
  ~Reservation() { release(); }

  void release();
  explicit operator bool() const { return account_ != nullptr; }
  const Amount& amount() const { return amount_; }

 private:
  std::shared_ptr<Account> account_;
  Amount amount_;
  bool from_claim_ = false;
};

class Account : public std::enable_shared_from_this<Account> {
 public:
  struct Hooks {
    std::function<void()> wait_begin, wait_end;             // parked in the pool
    std::function<std::optional<std::string>()> cancelled;  // interrupt message, if any
  };

  Account(std::shared_ptr<Pool> pool, Pool::HolderId holder, Hooks hooks);
  ~Account();

  /// Reserves the file's whole claim, waiting for it if needed. Returns an error message when
  /// it cannot ever be granted (exceeds the pool, deadlock) or the wait was interrupted.
  std::optional<std::string> claim(const Amount& amount);
  bool has_claim() const { return claim_.has_value(); }
  Amount claimed() const { return claim_.value_or(Amount{}); }

  /// Charges for VMs that boot together (lab:boot reserves all its members in one request).
  /// One reservation per amount, in order. Throws std::runtime_error with the reason.
  std::vector<Reservation> reserve(const std::vector<Amount>& amounts, const std::string& what);

  /// Brackets a wait outside the pool that must not count against deadlines either (a peer
  /// holds a fixture's build lock).
  void waiting(bool begin) {
    auto& f = begin ? hooks_.wait_begin : hooks_.wait_end;
    if (f) f();
  }

  /// The account a fixture build uses: same pool holder, never the claim.
  std::shared_ptr<Account> for_fixture_build();

  /// Returns the claim to the pool (file end). Reservations still out are returned from the
  /// claim slice when they end.
  void release_claim();

 private:
  friend class Reservation;
  void give_back(const Amount& amount, bool from_claim);

  std::shared_ptr<Pool> pool_;
  Pool::HolderId holder_;
  Hooks hooks_;
  std::mutex mu_;
  std::optional<Amount> claim_;
  Amount claim_in_use_;
  bool claim_released_ = false;
};

}  // namespace provium::scheduler
