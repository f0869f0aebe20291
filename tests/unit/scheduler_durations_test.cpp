// Duration history (REFERENCE §10.5): what earlier runs took, so the longest files start first.
// It is only a hint, so a damaged file must load as an empty history rather than fail the run.
#include <gtest/gtest.h>

#include <chrono>

#include "scheduler/durations.hpp"
#include "unit_support.hpp"

namespace provium::scheduler {
namespace {

using namespace std::chrono_literals;
using provium::unit::TempDir;

TEST(SchedulerDurations, SaveThenLoadRoundTrips) {
  TempDir d;
  auto path = d.path() / "cache" / "provium" / "durations.json";  // parents do not exist yet
  DurationHistory h;
  h.record("net/a.test.lua", 1500ms);
  h.record("b.test.lua", 42ms);
  h.record("b.test.lua", 70ms);  // the latest run wins
  ASSERT_EQ(h.save(path), "");

  auto back = DurationHistory::load(path);
  EXPECT_EQ(back.size(), 2u);
  EXPECT_EQ(back.expected_ms("net/a.test.lua"), 1500);
  EXPECT_EQ(back.expected_ms("b.test.lua"), 70);
  EXPECT_EQ(back.expected_ms("c.test.lua"), std::nullopt);
  // Written via a temp file + rename: nothing but the history is left behind.
  int entries = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(path.parent_path()))
    ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(SchedulerDurations, MissingOrDamagedFileLoadsAsEmpty) {
  TempDir d;
  EXPECT_EQ(DurationHistory::load(d.path() / "absent.json").size(), 0u);
  EXPECT_EQ(
      DurationHistory::load(d.write("truncated.json", "{\"version\": 1, \"files\": {")).size(), 0u);
  EXPECT_EQ(DurationHistory::load(d.write("array.json", "[1, 2]")).size(), 0u);
  // Entries of the wrong shape are skipped; the good ones survive.
  auto h = DurationHistory::load(d.write(
      "mixed.json",
      R"({"version": 1, "files": {"a": {"duration_ms": 5}, "b": {"duration_ms": "x"}, "c": 3}})"));
  EXPECT_EQ(h.size(), 1u);
  EXPECT_EQ(h.expected_ms("a"), 5);
}

TEST(SchedulerDurations, DispatchOrderIsLongestFirst) {
  DurationHistory h;
  h.record("a", 100ms);
  h.record("b", 300ms);
  h.record("c", 200ms);
  EXPECT_EQ(h.dispatch_order({"a", "b", "c"}), (std::vector<size_t>{1, 2, 0}));
}

TEST(SchedulerDurations, UnknownFilesAreExpectedToTakeTheMedian) {
  DurationHistory h;
  h.record("a", 100ms);
  h.record("b", 300ms);
  h.record("c", 200ms);
  // d and e are unknown, so expected 200 ms like c; ties keep the given order (d, c, e).
  EXPECT_EQ(h.dispatch_order({"a", "d", "b", "c", "e"}), (std::vector<size_t>{2, 1, 3, 4, 0}));
}

TEST(SchedulerDurations, NoHistoryKeepsTheOrder) {
  EXPECT_EQ(DurationHistory{}.dispatch_order({"z", "a", "m"}), (std::vector<size_t>{0, 1, 2}));
  DurationHistory other;
  other.record("unrelated", 5000ms);  // history, but none of these files
  EXPECT_EQ(other.dispatch_order({"z", "a", "m"}), (std::vector<size_t>{0, 1, 2}));
}

TEST(SchedulerDurations, DefaultPathHonoursTheOverride) {
  provium::unit::ScopedEnv env("PROVIUM_DURATIONS", "/tmp/somewhere/d.json");
  EXPECT_EQ(DurationHistory::default_path(), std::filesystem::path("/tmp/somewhere/d.json"));
}

}  // namespace
}  // namespace provium::scheduler
