// Worker credentials (REFERENCE §5.11, §6.10): the `spawn_worker` options that change who the
// worker is (uid, gid, supplementary groups, capabilities to keep). The main agent validates
// them and hands them to the re-executed worker as one `--worker-creds` argument; the worker
// applies them in main() before any thread starts (capset is per thread) and before it serves.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "proto/value.hpp"

namespace provium::agent {

struct WorkerCreds {
  std::optional<std::uint32_t> uid, gid;
  std::optional<std::vector<std::uint32_t>> groups;
  /// Capability numbers to keep; set = every other capability is dropped (empty: drop all).
  std::optional<std::vector<int>> caps;

  bool empty() const { return !uid && !gid && !groups && !caps; }
};

/// Reads the options of a spawn_worker payload; throws proto::DecodeError naming the field on
/// unknown keys, wrong types or unknown capability names.
WorkerCreds parse_worker_creds(const proto::Value& payload);

/// The `--worker-creds` argument ("uid=1;gid=2;groups=3,4;caps=12,13") and its inverse.
std::string encode_worker_creds(const WorkerCreds& c);
std::optional<WorkerCreds> decode_worker_creds(const std::string& spec);

/// Applies `c` to the calling process: bounding set, groups, gid, uid, then the kept
/// capabilities (permitted, effective, inheritable and ambient, so exec'd children keep them).
/// Without `groups`, a uid or gid change clears the supplementary groups. Returns 0 or the
/// errno of the failed step (named in `step`).
int apply_worker_creds(const WorkerCreds& c, std::string& step);

/// Exit code of a worker whose credentials could not be applied: kCredsExitBase + errno.
inline constexpr int kCredsExitBase = 64;

}  // namespace provium::agent
