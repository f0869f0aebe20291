// The resource pool (REFERENCE §10): memory/vCPU arithmetic, the blocking acquire, and the
// deadlock rule (a request fails at once when parking it would leave every holder waiting).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "scheduler/pool.hpp"
#include "scheduler_test_util.hpp"

namespace provium::scheduler {
namespace {

using namespace std::chrono_literals;

using namespace test_util;

TEST(SchedulerPool, AmountSubtractionSaturatesAtZero) {
  Amount a{100, 2};
  a -= Amount{300, 1};
  EXPECT_EQ(a, (Amount{0, 1}));
  a -= Amount{0, 5};
  EXPECT_TRUE(a.empty());
  EXPECT_EQ((Amount{1} + Amount{2, 3}), (Amount{3, 3}));
}

TEST(SchedulerPool, DescribeUsesTheUnitAPersonWouldWrite) {
  EXPECT_EQ(describe(kVm), "612 MiB + 1 vCPU");
  EXPECT_EQ(describe({2ull << 30, 2}), "2 GiB + 2 vCPUs");
  EXPECT_EQ(describe({1536 * kMiB, 4}), "1536 MiB + 4 vCPUs");
  EXPECT_EQ(describe({kMiB + kMiB / 2, 0}), "1.5 MiB + 0 vCPUs");
  EXPECT_EQ(describe({512, 1}), "512 bytes + 1 vCPU");
}

TEST(SchedulerPool, UsedAndFreeFollowAcquireAndRelease) {
  Pool pool({1024 * kMiB, 4});
  auto a = pool.add_holder("a.test.lua");
  EXPECT_EQ(pool.used(), Amount{});
  EXPECT_EQ(pool.free(), pool.total());

  ASSERT_TRUE(pool.try_acquire(a, {300 * kMiB, 1}));
  ASSERT_TRUE(pool.try_acquire(a, {200 * kMiB, 2}));
  EXPECT_EQ(pool.used(), (Amount{500 * kMiB, 3}));
  EXPECT_EQ(pool.free(), (Amount{524 * kMiB, 1}));

  pool.release(a, {300 * kMiB, 1});
  EXPECT_EQ(pool.used(), (Amount{200 * kMiB, 2}));
}

TEST(SchedulerPool, ReleasingMoreThanHeldSaturates) {
  // A double release must not drive the holder (or the pool) negative or steal from others.
  Pool pool({1024 * kMiB, 4});
  auto a = pool.add_holder("a.test.lua");
  auto b = pool.add_holder("b.test.lua");
  ASSERT_TRUE(pool.try_acquire(a, {100 * kMiB, 1}));
  ASSERT_TRUE(pool.try_acquire(b, {200 * kMiB, 1}));
  pool.release(a, {900 * kMiB, 3});
  EXPECT_EQ(pool.used(), (Amount{200 * kMiB, 1}));
  EXPECT_EQ(pool.free(), (Amount{824 * kMiB, 3}));
}

TEST(SchedulerPool, TryAcquireRefusesWhatDoesNotFit) {
  Pool pool({1024 * kMiB, 2});
  auto a = pool.add_holder("a.test.lua");
  ASSERT_TRUE(pool.try_acquire(a, {1000 * kMiB, 1}));
  EXPECT_FALSE(pool.try_acquire(a, {100 * kMiB, 0}));  // memory short
  EXPECT_FALSE(pool.try_acquire(a, {0, 2}));           // cpus short
  EXPECT_EQ(pool.used(), (Amount{1000 * kMiB, 1}));    // a refusal takes nothing
  EXPECT_TRUE(pool.try_acquire(a, {24 * kMiB, 1}));    // exactly what is left
  EXPECT_EQ(pool.free(), Amount{});
  EXPECT_FALSE(pool.try_acquire(99, {0, 0}));  // unknown holder
}

TEST(SchedulerPool, RemoveHolderReturnsItsHoldings) {
  Pool pool(kVm + kVm);
  auto a = pool.add_holder("a.test.lua");
  auto b = pool.add_holder("b.test.lua");
  ASSERT_TRUE(pool.try_acquire(a, kVm));
  ASSERT_TRUE(pool.try_acquire(b, kVm));
  pool.remove_holder(a);
  EXPECT_EQ(pool.used(), kVm);
  EXPECT_TRUE(pool.try_acquire(b, kVm));
}

TEST(SchedulerPool, OnReleaseRunsAfterEveryReleaseAndRemoval) {
  Pool pool(kVm + kVm);
  int calls = 0;
  pool.on_release([&] { ++calls; });
  auto a = pool.add_holder("a.test.lua");
  ASSERT_TRUE(pool.try_acquire(a, kVm));
  pool.release(a, kVm);
  EXPECT_EQ(calls, 1);
  pool.remove_holder(a);
  EXPECT_EQ(calls, 2);
}

TEST(SchedulerPool, AcquireLargerThanTheTotalFailsAtOnce) {
  Pool pool(kVm);
  auto a = pool.add_holder("a.test.lua");
  int parks = 0;
  auto out = pool.acquire(a, kVm + Amount{0, 1}, "vm:boot of `big`", nullptr, [&] { ++parks; });
  EXPECT_FALSE(out.granted);
  EXPECT_TRUE(contains(out.error, "exceeds pool total")) << out.error;
  EXPECT_TRUE(contains(out.error, "vm:boot of `big`")) << out.error;
  EXPECT_EQ(parks, 0);
  EXPECT_EQ(pool.used(), Amount{});
}

TEST(SchedulerPool, AcquireThatFitsIsGrantedWithoutParking) {
  Pool pool(kVm);
  auto a = pool.add_holder("a.test.lua");
  int parks = 0;
  auto out = pool.acquire(a, kVm, "vm:boot of `a`", nullptr, [&] { ++parks; });
  EXPECT_TRUE(out.granted) << out.error;
  EXPECT_EQ(out.waited, std::chrono::nanoseconds(0));
  EXPECT_EQ(parks, 0);
  EXPECT_EQ(pool.used(), kVm);
}

TEST(SchedulerPool, ParkedAcquireIsGrantedWhenAnotherHolderReleases) {
  Pool pool(kVm);
  auto a = pool.add_holder("a.test.lua");
  auto b = pool.add_holder("b.test.lua");
  ASSERT_TRUE(pool.try_acquire(b, kVm));

  std::atomic<int> parks{0};
  std::promise<void> parked;
  Pool::Outcome out;
  std::jthread t([&] {
    out = pool.acquire(a, kVm, "vm:boot of `a`", give_up_after(5s), [&] {
      if (parks++ == 0) parked.set_value();
    });
  });
  ASSERT_EQ(parked.get_future().wait_for(5s), std::future_status::ready);
  // Several 50 ms polls pass while parked; on_park must still have run only once.
  std::this_thread::sleep_for(200ms);
  pool.release(b, kVm);
  t.join();

  EXPECT_TRUE(out.granted) << out.error;
  EXPECT_EQ(parks.load(), 1);
  EXPECT_GT(out.waited, std::chrono::nanoseconds(0));
  EXPECT_EQ(pool.used(), kVm);  // now held by a
  EXPECT_FALSE(pool.try_acquire(b, kVm));
}

TEST(SchedulerPool, CancelledMakesAParkedRequestGiveUpWithItsMessage) {
  Pool pool(kVm);
  auto a = pool.add_holder("a.test.lua");
  auto b = pool.add_holder("b.test.lua");
  ASSERT_TRUE(pool.try_acquire(b, kVm));

  std::atomic<bool> stop{false};
  std::atomic<int> parks{0};
  std::promise<void> parked;
  Pool::Outcome out;
  std::jthread t([&] {
    auto guard = give_up_after(5s);
    out = pool.acquire(
        a, kVm, "vm:boot of `a`",
        [&]() -> std::optional<std::string> {
          if (stop) return "interrupted by Ctrl-C";
          return guard();
        },
        [&] {
          if (parks++ == 0) parked.set_value();
        });
  });
  ASSERT_EQ(parked.get_future().wait_for(5s), std::future_status::ready);
  stop = true;
  t.join();

  EXPECT_FALSE(out.granted);
  EXPECT_EQ(out.error, "interrupted by Ctrl-C");
  EXPECT_EQ(parks.load(), 1);
  EXPECT_EQ(pool.used(), kVm);  // a took nothing
  // a is no longer parked: b releasing leaves the VM free for anyone.
  pool.release(b, kVm);
  EXPECT_TRUE(pool.try_acquire(b, kVm));
}

TEST(SchedulerPool, TwoHoldersWaitingForEachOtherIsADeadlock) {
  // Two files each hold one VM in a pool sized for exactly two and each asks for a second VM:
  // whichever asks first parks (the other may still release), the second request would leave
  // both parked forever, so it fails at once. When that file then gives up its VM, the parked
  // one is granted.
  Pool pool(kVm + kVm);
  Pool::HolderId ids[2] = {pool.add_holder("a.test.lua"), pool.add_holder("b.test.lua")};
  for (auto id : ids) ASSERT_TRUE(pool.try_acquire(id, kVm));

  Pool::Outcome outs[2];
  auto run = [&](int i) {
    outs[i] = pool.acquire(ids[i], kVm, "vm:boot of `second`", give_up_after(5s));
    if (!outs[i].granted) pool.release(ids[i], kVm);  // the failing file ends, freeing its VM
  };
  std::jthread t0(run, 0), t1(run, 1);
  t0.join();
  t1.join();

  ASSERT_NE(outs[0].granted, outs[1].granted)
      << "errors: [" << outs[0].error << "] [" << outs[1].error << "]";
  const auto& failed = outs[0].granted ? outs[1] : outs[0];
  const auto& granted = outs[0].granted ? outs[0] : outs[1];
  EXPECT_TRUE(contains(failed.error, "deadlock")) << failed.error;
  EXPECT_TRUE(contains(failed.error, "provium:claim")) << failed.error;
  EXPECT_TRUE(contains(failed.error, "a.test.lua")) << failed.error;
  EXPECT_TRUE(contains(failed.error, "b.test.lua")) << failed.error;
  EXPECT_EQ(failed.waited, std::chrono::nanoseconds(0));  // failed at once, never parked
  EXPECT_TRUE(granted.error.empty()) << granted.error;
  EXPECT_EQ(pool.used(), kVm + kVm);  // both VMs now belong to the granted file
}

TEST(SchedulerPool, ARequestBeyondWhatTheHolderCouldEverGetFailsAtOnce) {
  // a holds one VM of a 2-VM pool and asks for two more: even if everyone else left, its own
  // VM stays held while it waits, so waiting is pointless whatever the others do.
  Pool pool(kVm + kVm);
  auto a = pool.add_holder("a.test.lua");
  pool.add_holder("idle.test.lua");
  ASSERT_TRUE(pool.try_acquire(a, kVm));
  int parks = 0;
  auto out = pool.acquire(a, kVm + kVm, "lab:boot of `pair`", nullptr, [&] { ++parks; });
  EXPECT_FALSE(out.granted);
  EXPECT_TRUE(contains(out.error, "already holds")) << out.error;
  EXPECT_TRUE(contains(out.error, "can ever be granted")) << out.error;
  EXPECT_TRUE(contains(out.error, "lab:boot of `pair`")) << out.error;
  EXPECT_EQ(parks, 0);
  EXPECT_EQ(pool.used(), kVm);
}

TEST(SchedulerPool, WaitingWhileAnotherHolderRunsIsNotADeadlock) {
  // b holds a VM and is not parked, so it may release: a's request must wait, not fail.
  Pool pool(kVm + kVm);
  auto a = pool.add_holder("a.test.lua");
  auto b = pool.add_holder("b.test.lua");
  ASSERT_TRUE(pool.try_acquire(a, kVm));
  ASSERT_TRUE(pool.try_acquire(b, kVm));

  std::promise<void> parked;
  Pool::Outcome out;
  std::jthread t([&] {
    out =
        pool.acquire(a, kVm, "vm:boot of `second`", give_up_after(5s), [&] { parked.set_value(); });
  });
  ASSERT_EQ(parked.get_future().wait_for(5s), std::future_status::ready);
  pool.release(b, kVm);
  t.join();

  EXPECT_TRUE(out.granted) << out.error;
  EXPECT_EQ(pool.used(), kVm + kVm);
}

TEST(SchedulerPool, ADeadlockReachedByAHolderLeavingFailsExactlyOneParkedRequest) {
  // a and c hold two VMs each and each wait for two more; b, holding one, still runs, so both
  // park. When b leaves, one VM is free, neither request can ever fit and nobody else will
  // release: the deadlock is reached by a release, not by a request. Exactly one of the two
  // must fail then (not wait forever: deadlines stand still while parked); once its file lets
  // go of its VMs, the other is granted.
  Pool pool(Amount{5 * kVm.memory, 5 * kVm.cpus});
  auto a = pool.add_holder("a.test.lua");
  auto b = pool.add_holder("b.test.lua");
  auto c = pool.add_holder("c.test.lua");
  ASSERT_TRUE(pool.try_acquire(a, kVm + kVm));
  ASSERT_TRUE(pool.try_acquire(c, kVm + kVm));
  ASSERT_TRUE(pool.try_acquire(b, kVm));

  std::promise<void> a_parked, c_parked;
  std::promise<Pool::Outcome> a_out, c_out;
  std::jthread ta([&] {
    a_out.set_value(pool.acquire(a, kVm + kVm, "booting `a3`, `a4`", give_up_after(5s),
                                 [&] { a_parked.set_value(); }));
  });
  ASSERT_EQ(a_parked.get_future().wait_for(5s), std::future_status::ready);
  std::jthread tc([&] {
    c_out.set_value(pool.acquire(c, kVm + kVm, "booting `c3`, `c4`", give_up_after(5s),
                                 [&] { c_parked.set_value(); }));
  });
  ASSERT_EQ(c_parked.get_future().wait_for(5s), std::future_status::ready);
  pool.remove_holder(b);

  auto fa = a_out.get_future();
  auto fc = c_out.get_future();
  // The first outcome to arrive is the failure; the other stays parked until it is released.
  Pool::Outcome first;
  bool a_first = false;
  for (int i = 0; i < 100; ++i) {
    if (fa.wait_for(20ms) == std::future_status::ready) {
      first = fa.get();
      a_first = true;
      break;
    }
    if (fc.wait_for(20ms) == std::future_status::ready) {
      first = fc.get();
      break;
    }
  }
  EXPECT_FALSE(first.granted);
  EXPECT_TRUE(contains(first.error, "pool deadlock")) << first.error;
  auto& other = a_first ? fc : fa;
  EXPECT_EQ(other.wait_for(300ms), std::future_status::timeout) << "only one request fails";
  pool.release(a_first ? a : c, kVm + kVm);  // the failed file unwinds
  ASSERT_EQ(other.wait_for(5s), std::future_status::ready);
  auto second = other.get();
  EXPECT_TRUE(second.granted) << second.error;
}

}  // namespace
}  // namespace provium::scheduler
