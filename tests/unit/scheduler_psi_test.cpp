// Host pressure (REFERENCE §10.6): the `some avg10` of /proc/pressure/{cpu,memory}, read from
// a root a test can point at a directory of its own, and at most once per second.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "scheduler/psi.hpp"
#include "unit_support.hpp"

namespace provium::scheduler {
namespace {

using namespace std::chrono_literals;
using provium::unit::TempDir;

// The layout of a real /proc/pressure/* file.
std::string psi_text(double some_avg10) {
  return "some avg10=" + std::to_string(some_avg10) +
         " avg60=1.00 avg300=0.50 total=123\n"
         "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
}

TEST(SchedulerPsi, ParsesTheSomeLine) {
  auto v = parse_some_avg10(
      "some avg10=12.34 avg60=1.00 avg300=0.50 total=123\n"
      "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
  ASSERT_TRUE(v);
  EXPECT_DOUBLE_EQ(*v, 12.34);
  // The `full` line comes second in real files but must not be taken for `some`.
  v = parse_some_avg10(
      "full avg10=99.00 avg60=0.00 avg300=0.00 total=0\n"
      "some avg10=0.50 avg60=0.00 avg300=0.00 total=0\n");
  ASSERT_TRUE(v);
  EXPECT_DOUBLE_EQ(*v, 0.5);
}

TEST(SchedulerPsi, MissingSomeLineIsNotAValue) {
  EXPECT_EQ(parse_some_avg10("full avg10=3.00 avg60=0.00 avg300=0.00 total=0\n"), std::nullopt);
  EXPECT_EQ(parse_some_avg10(""), std::nullopt);
}

TEST(SchedulerPsi, GarbageIsNotAValue) {
  EXPECT_EQ(parse_some_avg10("hello world\n"), std::nullopt);
  EXPECT_EQ(parse_some_avg10("some avg60=1.00 total=3\n"), std::nullopt);
  EXPECT_EQ(parse_some_avg10("some avg10=abc avg60=1.00\n"), std::nullopt);
  EXPECT_EQ(parse_some_avg10("some avg10=250.00 avg60=1.00\n"), std::nullopt);  // not a share
}

TEST(SchedulerPsi, UnavailableWithoutAMemoryFile) {
  // A kernel without PSI: pressure is never reported, even if `cpu` says it is high.
  TempDir d;
  d.write("cpu", psi_text(42));
  PsiMonitor m(d.path().string(), 10.0);
  EXPECT_FALSE(m.available());
  EXPECT_EQ(m.over_threshold(), std::nullopt);
  EXPECT_EQ(m.over_threshold(), std::nullopt);
}

TEST(SchedulerPsi, ReportsCpuPressureAboveTheThreshold) {
  TempDir d;
  d.write("cpu", psi_text(42));
  d.write("memory", psi_text(0));
  PsiMonitor m(d.path().string(), 10.0);
  ASSERT_TRUE(m.available());
  EXPECT_EQ(m.root(), d.path().string());
  auto over = m.over_threshold();
  ASSERT_TRUE(over);
  EXPECT_NE(over->find("cpu"), std::string::npos) << *over;
  EXPECT_NE(over->find("42.0"), std::string::npos) << *over;
}

TEST(SchedulerPsi, ReportsMemoryPressureAboveTheThreshold) {
  TempDir d;
  d.write("cpu", psi_text(1));
  d.write("memory", psi_text(55.5));
  PsiMonitor m(d.path().string(), 10.0);
  auto over = m.over_threshold();
  ASSERT_TRUE(over);
  EXPECT_NE(over->find("memory"), std::string::npos) << *over;
}

TEST(SchedulerPsi, NothingWhenBothAreBelowTheThreshold) {
  TempDir d;
  d.write("cpu", psi_text(9.9));
  d.write("memory", psi_text(3));
  PsiMonitor m(d.path().string(), 10.0);
  ASSERT_TRUE(m.available());
  EXPECT_EQ(m.over_threshold(), std::nullopt);
}

TEST(SchedulerPsi, ReadsTheFilesAtMostOncePerSecond) {
  TempDir d;
  d.write("cpu", psi_text(1));
  d.write("memory", psi_text(1));
  PsiMonitor m(d.path().string(), 10.0);
  auto first = std::chrono::steady_clock::now();
  EXPECT_EQ(m.over_threshold(), std::nullopt);

  d.write("cpu", psi_text(42));
  auto cached = m.over_threshold();
  // Only meaningful when this ran within the second (it does unless the host stalls).
  if (std::chrono::steady_clock::now() - first < 900ms) {
    EXPECT_EQ(cached, std::nullopt);
  }

  std::this_thread::sleep_for(1100ms);
  auto fresh = m.over_threshold();
  ASSERT_TRUE(fresh);
  EXPECT_NE(fresh->find("cpu"), std::string::npos) << *fresh;
}

}  // namespace
}  // namespace provium::scheduler
