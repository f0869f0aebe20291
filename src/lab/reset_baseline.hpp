// provium.reset_between_tests (REFERENCE §4.7): after the top-level chunk every running VM of
// the file (root lab and sub-labs) is saved to a private directory, all paused first so the set
// is consistent; after each test each one is restored from it, also one the test shut down.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "lab/session.hpp"

namespace provium::lab {

class ResetBaseline {
 public:
  ResetBaseline() = default;
  ResetBaseline(const ResetBaseline&) = delete;
  ResetBaseline& operator=(const ResetBaseline&) = delete;
  ~ResetBaseline();  // removes the saved snapshots

  /// Saves every running VM of `root` (nothing when none runs). Throws Error; every VM is
  /// running (or paused) as before either way.
  void take(const Lab& root);
  /// Restores every saved VM; "" on success, else what failed (the caller warns).
  std::string restore(Session& s);
  bool empty() const { return vms_.empty(); }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::vector<std::pair<VmPtr, std::string>> vms_;  // VM, its snapshot
};

}  // namespace provium::lab
