// A file's pool account (REFERENCE §10.2-10.3): a claim is drawn from the pool once and is a
// hard cap for the file's boots; without one every boot draws from the pool; fixture builds
// never touch the claim; waiting in the pool is bracketed by the wait hooks.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "scheduler/account.hpp"
#include "scheduler_test_util.hpp"

namespace provium::scheduler {
namespace {

using namespace std::chrono_literals;

using namespace test_util;

std::shared_ptr<Account> make_account(const std::shared_ptr<Pool>& pool,
                                      Account::Hooks hooks = {}) {
  return std::make_shared<Account>(pool, pool->add_holder("f.test.lua"), std::move(hooks));
}

// The runtime_error message of `f`, or "" when it does not throw.
template <typename F>
std::string thrown(F&& f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(SchedulerAccount, ClaimReservesFromThePool) {
  auto pool = std::make_shared<Pool>(kVm + kVm + kVm);
  auto acct = make_account(pool);
  EXPECT_FALSE(acct->has_claim());
  ASSERT_EQ(acct->claim(kVm + kVm), std::nullopt);
  EXPECT_TRUE(acct->has_claim());
  EXPECT_EQ(acct->claimed(), kVm + kVm);
  EXPECT_EQ(pool->used(), kVm + kVm);
}

TEST(SchedulerAccount, ReserveWithinTheClaimNeverTouchesThePool) {
  auto pool = std::make_shared<Pool>(kVm + kVm + kVm);
  auto acct = make_account(pool);
  ASSERT_EQ(acct->claim(kVm + kVm), std::nullopt);
  {
    auto r = acct->reserve({kVm, kVm}, "lab:boot of `pair`");
    ASSERT_EQ(r.size(), 2u);
    EXPECT_TRUE(r[0] && r[1]);
    EXPECT_EQ(pool->used(), kVm + kVm);
  }
  EXPECT_EQ(pool->used(), kVm + kVm);  // ending the VMs returns to the claim, not the pool
}

TEST(SchedulerAccount, ReserveBeyondTheClaimThrows) {
  auto pool = std::make_shared<Pool>(kVm + kVm + kVm);
  auto acct = make_account(pool);
  ASSERT_EQ(acct->claim(kVm), std::nullopt);
  auto r = acct->reserve({kVm}, "vm:boot of `a`");
  // Even with room in the pool, a claimed file fails at once instead of waiting.
  auto msg = thrown([&] { acct->reserve({kVm}, "vm:boot of `b`"); });
  EXPECT_TRUE(contains(msg, "the file's claim is")) << msg;
  EXPECT_TRUE(contains(msg, "raise provium:claim")) << msg;
  EXPECT_TRUE(contains(msg, "vm:boot of `b`")) << msg;
  EXPECT_TRUE(contains(msg, "612 MiB + 1 vCPU already in use")) << msg;
  EXPECT_EQ(pool->used(), kVm);
}

TEST(SchedulerAccount, ReservationDestructionGivesBackToTheClaim) {
  auto pool = std::make_shared<Pool>(kVm + kVm);
  auto acct = make_account(pool);
  ASSERT_EQ(acct->claim(kVm), std::nullopt);
  {
    auto r = acct->reserve({kVm}, "vm:boot of `a`");
    EXPECT_FALSE(thrown([&] { acct->reserve({kVm}, "vm:boot of `b`"); }).empty());
  }
  auto again = acct->reserve({kVm}, "vm:boot of `c`");  // fits once `a` is gone
  EXPECT_EQ(again.size(), 1u);
}

TEST(SchedulerAccount, MovedReservationGivesBackOnce) {
  auto pool = std::make_shared<Pool>(kVm + kVm);
  auto acct = make_account(pool);
  auto rs = acct->reserve({kVm}, "vm:boot of `a`");
  Reservation moved = std::move(rs[0]);
  EXPECT_FALSE(rs[0]);
  EXPECT_TRUE(moved);
  rs.clear();  // the moved-from shell returns nothing
  EXPECT_EQ(pool->used(), kVm);
  moved.release();
  EXPECT_FALSE(moved);
  EXPECT_EQ(pool->used(), Amount{});
}

TEST(SchedulerAccount, ReleaseClaimReturnsTheClaimToThePoolOnce) {
  auto pool = std::make_shared<Pool>(kVm + kVm + kVm);
  auto acct = make_account(pool);
  ASSERT_EQ(acct->claim(kVm), std::nullopt);
  // The same holder also holds a fixture-build VM, so a second return of the claim would show.
  auto build = acct->for_fixture_build()->reserve({kVm}, "fixture build of `base`");
  EXPECT_EQ(pool->used(), kVm + kVm);
  acct->release_claim();
  EXPECT_EQ(pool->used(), kVm);
  acct->release_claim();
  EXPECT_EQ(pool->used(), kVm);
}

TEST(SchedulerAccount, DestroyingTheAccountReturnsTheClaim) {
  auto pool = std::make_shared<Pool>(kVm + kVm);
  {
    auto acct = make_account(pool);
    ASSERT_EQ(acct->claim(kVm + kVm), std::nullopt);
  }
  EXPECT_EQ(pool->used(), Amount{});
}

TEST(SchedulerAccount, FixtureBuildDrawsFromThePoolNotTheClaim) {
  auto pool = std::make_shared<Pool>(kVm + kVm + kVm);
  auto acct = make_account(pool);
  ASSERT_EQ(acct->claim(kVm), std::nullopt);
  auto build = acct->for_fixture_build();
  EXPECT_FALSE(build->has_claim());
  {
    auto r = build->reserve({kVm}, "fixture build of `base`");
    EXPECT_EQ(pool->used(), kVm + kVm);
    // The claim is untouched: the file can still boot its one VM from it.
    auto own = acct->reserve({kVm}, "vm:boot of `a`");
    EXPECT_EQ(pool->used(), kVm + kVm);
  }
  EXPECT_EQ(pool->used(), kVm);
}

TEST(SchedulerAccount, UnclaimedReserveGivesOneReservationPerAmount) {
  auto pool = std::make_shared<Pool>(Amount{4096 * kMiB, 8});
  auto acct = make_account(pool);
  const Amount small = vm_charge(256 * kMiB, 1), big = vm_charge(1024 * kMiB, 2);
  auto rs = acct->reserve({small, big}, "lab:boot of `pair`");
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].amount(), small);
  EXPECT_EQ(rs[1].amount(), big);
  EXPECT_EQ(pool->used(), small + big);
  rs[0].release();
  EXPECT_EQ(pool->used(), big);
  rs.clear();
  EXPECT_EQ(pool->used(), Amount{});
}

TEST(SchedulerAccount, ClaimLargerThanThePoolFails) {
  auto pool = std::make_shared<Pool>(kVm);
  auto acct = make_account(pool);
  auto err = acct->claim(kVm + kVm);
  ASSERT_TRUE(err);
  EXPECT_TRUE(contains(*err, "exceeds pool total")) << *err;
  EXPECT_FALSE(acct->has_claim());
  EXPECT_EQ(pool->used(), Amount{});
}

TEST(SchedulerAccount, UnclaimedReserveThatCanNeverFitThrows) {
  auto pool = std::make_shared<Pool>(kVm);
  auto acct = make_account(pool);
  auto msg = thrown([&] { acct->reserve({kVm, kVm}, "lab:boot of `pair`"); });
  EXPECT_TRUE(contains(msg, "exceeds pool total")) << msg;
}

TEST(SchedulerAccount, WaitHooksBracketAParkedReserveOnce) {
  // Another file holds the whole pool; the reserve parks until it releases. The hooks are what
  // keep the wait out of the file's deadlines, so each must run exactly once.
  auto pool = std::make_shared<Pool>(kVm);
  auto other = pool->add_holder("other.test.lua");
  ASSERT_TRUE(pool->try_acquire(other, kVm));

  std::atomic<int> begins{0}, ends{0};
  auto acct = make_account(pool, {[&] { ++begins; }, [&] { ++ends; }, give_up_after(5s)});
  std::string error;
  // jthread: a failed ASSERT below still joins it.
  std::jthread t([&] { error = thrown([&] { acct->reserve({kVm}, "vm:boot of `a`"); }); });
  for (int i = 0; i < 500 && begins == 0; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(begins.load(), 1);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(ends.load(), 0);  // still parked
  pool->release(other, kVm);
  t.join();

  EXPECT_TRUE(error.empty()) << error;
  EXPECT_EQ(begins.load(), 1);
  EXPECT_EQ(ends.load(), 1);
  // A reserve that fits at once does not call the hooks at all.
  auto acct2 =
      make_account(std::make_shared<Pool>(kVm), {[&] { ++begins; }, [&] { ++ends; }, nullptr});
  auto r = acct2->reserve({kVm}, "vm:boot of `b`");
  EXPECT_EQ(begins.load(), 1);
  EXPECT_EQ(ends.load(), 1);
}

}  // namespace
}  // namespace provium::scheduler
