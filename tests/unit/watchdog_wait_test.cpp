// Time a file spends parked in the pool is not charged to its deadlines (REFERENCE §10.7):
// between begin_wait and end_wait nothing fires, and end_wait moves the deadlines later by the
// time waited. Bounds are generous (the watchdog polls every 50 ms and CI hosts stall).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "runner/interrupt.hpp"
#include "runner/watchdog.hpp"

namespace provium::runner {
namespace {

using namespace std::chrono_literals;

// Polls until `intr` is pending or `limit` passes; returns the time it took.
std::optional<Clock::duration> time_until_pending(const Interrupt& intr, Clock::duration limit) {
  auto start = Clock::now();
  while (Clock::now() - start < limit) {
    if (intr.pending()) return Clock::now() - start;
    std::this_thread::sleep_for(10ms);
  }
  return intr.pending() ? std::optional(Clock::now() - start) : std::nullopt;
}

TEST(WatchdogWait, FileDeadlineStandsStillWhileWaitingAndMovesLater) {
  Watchdog wd;
  Interrupt intr;
  auto added = Clock::now();
  auto h = wd.add(&intr, added + 300ms, "file timed out", nullptr);
  wd.begin_wait(h);
  auto began = Clock::now();
  std::this_thread::sleep_for(600ms);  // well past the original deadline
  EXPECT_FALSE(intr.pending()) << intr.message();
  wd.end_wait(h);
  EXPECT_FALSE(intr.pending()) << "fired at end_wait: " << intr.message();

  // What was left of the 300 ms at begin_wait still applies after end_wait.
  auto left = 300ms - (began - added);
  auto fired = time_until_pending(intr, 1500ms);
  ASSERT_TRUE(fired) << "the moved deadline never fired";
  EXPECT_GE(*fired, left - 100ms);
  EXPECT_EQ(intr.kind(), InterruptKind::FileTimeout);
  EXPECT_EQ(intr.message(), "file timed out");
  wd.remove(h);
}

TEST(WatchdogWait, TestDeadlineMovesLaterToo) {
  Watchdog wd;
  Interrupt intr;
  auto h = wd.add(&intr, std::nullopt, "", nullptr);
  wd.set_test_deadline(h, Clock::now() + 300ms, "test timed out");
  wd.begin_wait(h);
  std::this_thread::sleep_for(600ms);
  wd.end_wait(h);
  EXPECT_FALSE(intr.pending()) << intr.message();
  ASSERT_TRUE(time_until_pending(intr, 1500ms));
  EXPECT_EQ(intr.kind(), InterruptKind::TestTimeout);
  wd.remove(h);
}

TEST(WatchdogWait, NestedWaitsKeepWaitingUntilTheOutermostEnds) {
  Watchdog wd;
  Interrupt intr;
  auto h = wd.add(&intr, Clock::now() + 200ms, "file timed out", nullptr);
  wd.begin_wait(h);
  wd.begin_wait(h);  // e.g. a fixture build lock wait inside a boot wait
  wd.end_wait(h);
  std::this_thread::sleep_for(600ms);
  EXPECT_FALSE(intr.pending()) << "fired while still inside the outer wait";
  wd.end_wait(h);
  EXPECT_TRUE(time_until_pending(intr, 1500ms)) << "the deadline never fired after the wait";
  wd.remove(h);
}

TEST(WatchdogWait, UnbalancedEndWaitIsIgnored) {
  // An end_wait without begin_wait neither moves the deadline nor starts a wait.
  Watchdog wd;
  Interrupt intr;
  auto h = wd.add(&intr, Clock::now() + 200ms, "file timed out", nullptr);
  wd.end_wait(h);
  EXPECT_TRUE(time_until_pending(intr, 1500ms));
  wd.remove(h);
}

}  // namespace
}  // namespace provium::runner
