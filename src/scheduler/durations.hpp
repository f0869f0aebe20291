// How long each file took in earlier runs (~/.cache/provium/durations.json), so the dispatcher
// can start the longest files first and a suite's tail is not one slow file started last
// (REFERENCE §10.5, ours).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace provium::scheduler {

class DurationHistory {
 public:
  /// PROVIUM_DURATIONS overrides the path (tests); else $HOME/.cache/provium/durations.json.
  static std::filesystem::path default_path();

  /// Reads `path`; a missing or unreadable file is an empty history (it is only a hint).
  static DurationHistory load(const std::filesystem::path& path);
  /// Writes atomically (temp file + rename); returns an error message or "".
  std::string save(const std::filesystem::path& path) const;

  void record(const std::string& file, std::chrono::nanoseconds d) {
    ms_[file] = d.count() / 1000000;
  }
  std::optional<std::int64_t> expected_ms(const std::string& file) const;
  size_t size() const { return ms_.size(); }

  /// The dispatch order for `files` (keys as recorded): longest expected first. Files without
  /// history are expected to take the median of the known ones; ties keep the given order.
  /// Without any history the order is unchanged.
  std::vector<size_t> dispatch_order(const std::vector<std::string>& files) const;

 private:
  std::map<std::string, std::int64_t> ms_;
};

}  // namespace provium::scheduler
