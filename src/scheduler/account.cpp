#include "scheduler/account.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace provium::scheduler {

Reservation& Reservation::operator=(Reservation&& o) noexcept {
  if (this != &o) {
    release();
    account_ = std::move(o.account_);
    amount_ = o.amount_;
    from_claim_ = o.from_claim_;
    o.account_.reset();
  }
  return *this;
}

void Reservation::release() {
  if (!account_) return;
  auto acct = std::move(account_);
  account_.reset();
  acct->give_back(amount_, from_claim_);
}

Account::Account(std::shared_ptr<Pool> pool, Pool::HolderId holder, Hooks hooks)
    : pool_(std::move(pool)), holder_(holder), hooks_(std::move(hooks)) {}

Account::~Account() { release_claim(); }

std::optional<std::string> Account::claim(const Amount& amount) {
  bool parked = false;
  auto out = pool_->acquire(holder_, amount, "the claim", hooks_.cancelled, [&] {
    parked = true;
    if (hooks_.wait_begin) hooks_.wait_begin();
  });
  if (parked && hooks_.wait_end) hooks_.wait_end();
  if (!out.granted) return out.error;
  std::lock_guard lk(mu_);
  claim_ = amount;
  return std::nullopt;
}

std::vector<Reservation> Account::reserve(const std::vector<Amount>& amounts,
                                          const std::string& what) {
  Amount sum;
  for (auto& a : amounts) sum += a;
  std::vector<Reservation> out;
  std::unique_lock lk(mu_);
  if (claim_) {
    Amount free = *claim_;
    free -= claim_in_use_;
    if (!sum.fits_in(free))
      throw std::runtime_error(fmt::format(
          "{} needs {} but the file's claim is {} with {} already in use; raise provium:claim "
          "to the file's peak (the sum of memory + 100 MiB and of cpus over the VMs alive at once)",
          what, describe(sum), describe(*claim_), describe(claim_in_use_)));
    claim_in_use_ += sum;
    lk.unlock();
    for (auto& a : amounts) out.emplace_back(shared_from_this(), a, true);
    return out;
  }
  lk.unlock();
  bool parked = false;
  auto got = pool_->acquire(holder_, sum, what, hooks_.cancelled, [&] {
    parked = true;
    if (hooks_.wait_begin) hooks_.wait_begin();
  });
  if (parked && hooks_.wait_end) hooks_.wait_end();
  if (!got.granted) throw std::runtime_error(got.error);
  for (auto& a : amounts) out.emplace_back(shared_from_this(), a, false);
  return out;
}

std::shared_ptr<Account> Account::for_fixture_build() {
  return std::make_shared<Account>(pool_, holder_, hooks_);
}

void Account::give_back(const Amount& amount, bool from_claim) {
  if (from_claim) {
    std::lock_guard lk(mu_);
    claim_in_use_ -= amount;
    return;
  }
  pool_->release(holder_, amount);
}

void Account::release_claim() {
  std::optional<Amount> c;
  {
    std::lock_guard lk(mu_);
    if (claim_released_ || !claim_) return;
    claim_released_ = true;
    c = claim_;
    claim_.reset();  // anything reserved after the file's end draws from the pool again
  }
  pool_->release(holder_, *c);
}

}  // namespace provium::scheduler
