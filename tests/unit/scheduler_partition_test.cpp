// Splitting a suite across CI machines (--partition): parsing K/N from the flag or from the CI
// system's variables, and the property that every file lands in exactly one shard.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "scheduler/partition.hpp"

namespace provium::scheduler {
namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// A getenv over a fixed map, so the tests never see the real CI variables of the host.
std::function<const char*(const char*)> env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

PartitionParse parse(const std::string& spec, std::map<std::string, std::string> vars = {}) {
  return parse_partition(spec, env_of(std::move(vars)));
}

std::vector<std::string> paths(size_t n, const std::string& prefix = "") {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back(prefix + "dir" + std::to_string(i % 7) + "/file" + std::to_string(i) +
                  ".test.lua");
  return out;
}

Partition shard(Partition::Mode mode, unsigned k, unsigned n) {
  Partition p;
  p.mode = mode;
  p.index = k;
  p.total = n;
  return p;
}

TEST(SchedulerPartition, ParsesExplicitShards) {
  auto r = parse("hash:2/4");
  ASSERT_TRUE(r.partition) << r.error;
  EXPECT_EQ(r.partition->mode, Partition::Mode::Hash);
  EXPECT_EQ(r.partition->index, 2u);
  EXPECT_EQ(r.partition->total, 4u);
  EXPECT_EQ(r.partition->source, "--partition");
  EXPECT_EQ(r.partition->to_string(), "hash:2/4");

  r = parse("slice:3/3");
  ASSERT_TRUE(r.partition) << r.error;
  EXPECT_EQ(r.partition->mode, Partition::Mode::Slice);
  EXPECT_EQ(r.partition->to_string(), "slice:3/3");
}

TEST(SchedulerPartition, RejectsMalformedSpecs) {
  for (const char* spec : {"hash:0/3", "hash:4/3", "hash:1/0", "foo:1/2", "hash:a/b", "hash:1",
                           "slice:", "slice:1/2/3", "hash:-1/3", ""}) {
    auto r = parse(spec);
    EXPECT_FALSE(r.partition) << spec;
    EXPECT_TRUE(contains(r.error, "--partition")) << spec << ": " << r.error;
    EXPECT_TRUE(contains(r.error, "K/N")) << spec << ": " << r.error;
  }
  EXPECT_TRUE(contains(parse("foo:1/2").error, "unknown mode `foo`"));
}

TEST(SchedulerPartition, GitLabVariablesAreOneBased) {
  auto r = parse("hash", {{"CI_NODE_INDEX", "2"}, {"CI_NODE_TOTAL", "3"}});
  ASSERT_TRUE(r.partition) << r.error;
  EXPECT_EQ(r.partition->to_string(), "hash:2/3");
  EXPECT_EQ(r.partition->source, "CI_NODE_INDEX/CI_NODE_TOTAL");
}

TEST(SchedulerPartition, BuildkiteAndCircleVariablesAreZeroBased) {
  auto r = parse("slice", {{"BUILDKITE_PARALLEL_JOB", "0"}, {"BUILDKITE_PARALLEL_JOB_COUNT", "2"}});
  ASSERT_TRUE(r.partition) << r.error;
  EXPECT_EQ(r.partition->to_string(), "slice:1/2");
  EXPECT_EQ(r.partition->source, "BUILDKITE_PARALLEL_JOB/BUILDKITE_PARALLEL_JOB_COUNT");

  r = parse("hash", {{"CIRCLE_NODE_INDEX", "3"}, {"CIRCLE_NODE_TOTAL", "4"}});
  ASSERT_TRUE(r.partition) << r.error;
  EXPECT_EQ(r.partition->to_string(), "hash:4/4");
}

TEST(SchedulerPartition, ModeAloneWithoutCiVariablesNamesThem) {
  // Half a pair does not count either.
  auto r = parse("hash", {{"CI_NODE_INDEX", "1"}});
  EXPECT_FALSE(r.partition);
  for (const char* var : {"CI_NODE_INDEX", "CI_NODE_TOTAL", "BUILDKITE_PARALLEL_JOB",
                          "BUILDKITE_PARALLEL_JOB_COUNT", "CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL"})
    EXPECT_TRUE(contains(r.error, var)) << var << ": " << r.error;
  EXPECT_TRUE(contains(r.error, "hash:K/N")) << r.error;
}

TEST(SchedulerPartition, BadCiValuesAreErrors) {
  const std::vector<std::map<std::string, std::string>> bad = {
      {{"CI_NODE_INDEX", "0"}, {"CI_NODE_TOTAL", "3"}},  // GitLab counts from 1
      {{"CI_NODE_INDEX", "4"}, {"CI_NODE_TOTAL", "3"}},
      {{"CI_NODE_INDEX", "x"}, {"CI_NODE_TOTAL", "3"}},
      {{"CI_NODE_INDEX", "1"}, {"CI_NODE_TOTAL", "0"}},
      {{"BUILDKITE_PARALLEL_JOB", "2"}, {"BUILDKITE_PARALLEL_JOB_COUNT", "2"}},  // from 0
      {{"CIRCLE_NODE_INDEX", ""}, {"CIRCLE_NODE_TOTAL", "2"}},
  };
  for (auto& vars : bad) {
    auto r = parse("slice", vars);
    EXPECT_FALSE(r.partition) << vars.begin()->first << "=" << vars.begin()->second;
    EXPECT_TRUE(contains(r.error, vars.begin()->first)) << r.error;
  }
}

TEST(SchedulerPartition, EveryFileIsInExactlyOneShard) {
  auto keys = paths(100);
  for (auto mode : {Partition::Mode::Hash, Partition::Mode::Slice}) {
    for (unsigned n : {1u, 2u, 3u, 5u, 8u}) {
      std::vector<int> seen(keys.size(), 0);
      for (unsigned k = 1; k <= n; ++k) {
        auto sel = select_partition(keys, shard(mode, k, n));
        EXPECT_TRUE(std::is_sorted(sel.begin(), sel.end())) << "discovery order kept";
        for (size_t i : sel) {
          ASSERT_LT(i, keys.size());
          ++seen[i];
        }
      }
      for (size_t i = 0; i < keys.size(); ++i)
        EXPECT_EQ(seen[i], 1) << keys[i] << " in mode " << static_cast<int>(mode) << " N=" << n;
    }
  }
}

TEST(SchedulerPartition, SliceShardsAreContiguousAndEvenlySized) {
  auto keys = paths(100);
  for (unsigned n : {1u, 2u, 3u, 5u, 8u}) {
    size_t smallest = keys.size(), largest = 0;
    std::string previous_max;
    for (unsigned k = 1; k <= n; ++k) {
      auto sel = select_partition(keys, shard(Partition::Mode::Slice, k, n));
      smallest = std::min(smallest, sel.size());
      largest = std::max(largest, sel.size());
      // Contiguous runs of the sorted list: every key of shard k sorts after those of k-1.
      std::string lo = keys[sel.front()], hi = keys[sel.front()];
      for (size_t i : sel) {
        lo = std::min(lo, keys[i]);
        hi = std::max(hi, keys[i]);
      }
      EXPECT_GT(lo, previous_max) << "N=" << n << " K=" << k;
      previous_max = hi;
    }
    EXPECT_LE(largest - smallest, 1u) << "N=" << n;
  }
}

TEST(SchedulerPartition, HashShardOfAFileDoesNotDependOnTheOthers) {
  auto keys = paths(100);
  // The same files, shuffled among 50 new ones (new ones first, so every index shifts).
  auto more = paths(50, "new/");
  more.insert(more.end(), keys.rbegin(), keys.rend());
  for (unsigned n : {2u, 3u, 5u, 8u}) {
    std::map<std::string, unsigned> before, after;
    for (unsigned k = 1; k <= n; ++k) {
      for (size_t i : select_partition(keys, shard(Partition::Mode::Hash, k, n)))
        before[keys[i]] = k;
      for (size_t i : select_partition(more, shard(Partition::Mode::Hash, k, n)))
        after[more[i]] = k;
    }
    ASSERT_EQ(before.size(), keys.size());
    for (auto& [key, k] : before) EXPECT_EQ(after[key], k) << key << " N=" << n;
  }
}

}  // namespace
}  // namespace provium::scheduler
