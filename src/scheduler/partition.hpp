// Splitting a suite across CI machines by test file (`--partition hash:K/N` / `slice:K/N`).
// The tests of one file share state, so a file is never split. K and N can come from the CI
// system's own variables when the flag names only the mode.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace provium::scheduler {

struct Partition {
  enum class Mode { Hash, Slice };
  Mode mode = Mode::Hash;
  unsigned index = 1;  // K, 1-based
  unsigned total = 1;  // N
  std::string source;  // where K/N came from ("--partition", "CI_NODE_INDEX/CI_NODE_TOTAL")

  std::string to_string() const;  // "hash:2/4"
};

struct PartitionParse {
  std::optional<Partition> partition;
  std::string error;  // one line naming the flag, the value and the fix
};

/// Parses `hash:K/N`, `slice:K/N`, or `hash` / `slice` alone (K/N from `getenv`: GitLab's
/// CI_NODE_INDEX/CI_NODE_TOTAL (1-based), Buildkite's BUILDKITE_PARALLEL_JOB/_COUNT and
/// CircleCI's CIRCLE_NODE_INDEX/CIRCLE_NODE_TOTAL (0-based)).
PartitionParse parse_partition(const std::string& spec,
                               const std::function<const char*(const char*)>& getenv);

/// Which of `keys` (root-relative file paths, in discovery order) belong to the partition,
/// as indices into `keys`. hash: a SHA-256 of the path picks the shard, so a file keeps its
/// shard when others are added; slice: the sorted list cut into N contiguous runs whose sizes
/// differ by at most one.
std::vector<size_t> select_partition(const std::vector<std::string>& keys, const Partition& p);

}  // namespace provium::scheduler
