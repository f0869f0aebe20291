// Host pressure (PSI, /proc/pressure/*): new files are not dispatched while the share of time
// some task was stalled on CPU or memory over the last 10 s is above a threshold
// (REFERENCE §10.6). Running files are never slowed down; only admission waits.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

namespace provium::scheduler {

/// The `avg10` of the `some` line of a /proc/pressure/* file, or nullopt when the text does
/// not have one.
std::optional<double> parse_some_avg10(const std::string& text);

class PsiMonitor {
 public:
  /// `root` holds the `cpu` and `memory` files (PROVIUM_PSI_ROOT overrides /proc/pressure so
  /// tests can feed pressure without loading the host). Threshold in percent.
  explicit PsiMonitor(std::string root = default_root(), double threshold = 10.0);

  /// False when `<root>/memory` does not parse (kernel without PSI): pressure is then never
  /// reported.
  bool available() const { return available_; }
  const std::string& root() const { return root_; }

  /// A description of the pressure that is above the threshold ("cpu some avg10=42.0%"), or
  /// nullopt. Reads the files at most once per second.
  std::optional<std::string> over_threshold();

  static std::string default_root();

 private:
  std::optional<std::string> read_now() const;

  std::string root_;
  double threshold_;
  bool available_ = false;
  std::mutex mu_;
  std::chrono::steady_clock::time_point last_read_{};
  std::optional<std::string> last_;
};

}  // namespace provium::scheduler
