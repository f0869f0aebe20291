#include "scheduler/partition.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "util/sha256.hpp"

namespace provium::scheduler {
namespace {

std::optional<unsigned> parse_uint(const std::string& s) {
  if (s.empty() || s.size() > 9 || !std::all_of(s.begin(), s.end(), ::isdigit)) return std::nullopt;
  return static_cast<unsigned>(std::stoul(s));
}

constexpr const char* kUsage = "expected hash:K/N or slice:K/N with 1 <= K <= N, e.g. hash:1/4";

}  // namespace

std::string Partition::to_string() const {
  return fmt::format("{}:{}/{}", mode == Mode::Hash ? "hash" : "slice", index, total);
}

PartitionParse parse_partition(const std::string& spec,
                               const std::function<const char*(const char*)>& getenv) {
  PartitionParse out;
  auto colon = spec.find(':');
  std::string mode = spec.substr(0, colon);
  Partition p;
  if (mode == "hash")
    p.mode = Partition::Mode::Hash;
  else if (mode == "slice")
    p.mode = Partition::Mode::Slice;
  else {
    out.error = fmt::format("--partition `{}`: unknown mode `{}`; {}", spec, mode, kUsage);
    return out;
  }
  if (colon == std::string::npos) {
    // K/N from the CI system: (index variable, total variable, index base).
    struct Source {
      const char* index;
      const char* total;
      unsigned base;
    };
    static const Source kSources[] = {{"CI_NODE_INDEX", "CI_NODE_TOTAL", 1},
                                      {"BUILDKITE_PARALLEL_JOB", "BUILDKITE_PARALLEL_JOB_COUNT", 0},
                                      {"CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL", 0}};
    for (auto& s : kSources) {
      const char* iv = getenv(s.index);
      const char* tv = getenv(s.total);
      if (!iv || !tv) continue;
      auto i = parse_uint(iv);
      auto t = parse_uint(tv);
      if (!i || !t || *t == 0 || *i + 1 - s.base > *t || *i + 1 - s.base < 1) {
        out.error = fmt::format(
            "--partition {}: {}={} and {}={} do not name a shard ({}-based index below the total)",
            mode, s.index, iv, s.total, tv, s.base);
        return out;
      }
      p.index = *i + 1 - s.base;
      p.total = *t;
      p.source = fmt::format("{}/{}", s.index, s.total);
      out.partition = p;
      return out;
    }
    out.error = fmt::format(
        "--partition {}: no shard given and none of CI_NODE_INDEX/CI_NODE_TOTAL, "
        "BUILDKITE_PARALLEL_JOB/BUILDKITE_PARALLEL_JOB_COUNT, CIRCLE_NODE_INDEX/CIRCLE_NODE_TOTAL "
        "is set; pass {}:K/N",
        mode, mode);
    return out;
  }
  std::string rest = spec.substr(colon + 1);
  auto slash = rest.find('/');
  // 0 stands for "missing or not a number": both bounds reject it (value_or, not a
  // dereference after a check, which GCC 12 misreads as maybe-uninitialized at -O2).
  unsigned k = parse_uint(rest.substr(0, slash)).value_or(0);
  unsigned n = slash == std::string::npos ? 0 : parse_uint(rest.substr(slash + 1)).value_or(0);
  if (n == 0 || k < 1 || k > n) {
    out.error = fmt::format("--partition `{}`: {}", spec, kUsage);
    return out;
  }
  p.index = k;
  p.total = n;
  p.source = "--partition";
  out.partition = p;
  return out;
}

std::vector<size_t> select_partition(const std::vector<std::string>& keys, const Partition& p) {
  std::vector<size_t> out;
  if (p.mode == Partition::Mode::Hash) {
    for (size_t i = 0; i < keys.size(); ++i) {
      std::string h = util::sha256_hex(keys[i]);
      std::uint64_t v = std::stoull(h.substr(0, 15), nullptr, 16);
      if (v % p.total == p.index - 1) out.push_back(i);
    }
    return out;
  }
  std::vector<size_t> order(keys.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return keys[a] < keys[b]; });
  size_t n = keys.size(), base = n / p.total, extra = n % p.total;
  size_t k = p.index - 1;
  size_t begin = k * base + std::min(k, extra);
  size_t len = base + (k < extra ? 1 : 0);
  for (size_t j = begin; j < begin + len; ++j) out.push_back(order[j]);
  std::sort(out.begin(), out.end());  // keep discovery order
  return out;
}

}  // namespace provium::scheduler
