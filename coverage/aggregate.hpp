// provium-coverage's model: test events grouped into buckets by one meta key (REFERENCE §11.7).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "events/frame.hpp"

namespace provium::coverage {

struct Counts {
  int passed = 0, failed = 0, skipped = 0;
  int total() const { return passed + failed + skipped; }
};

inline constexpr const char* kUnset = "<unset>";

class Aggregate {
 public:
  explicit Aggregate(std::string key) : key_(std::move(key)) {}

  /// Consumes one event; kinds other than test_passed/failed/skipped are ignored.
  void add(const events::Event& e);

  const std::string& key() const { return key_; }
  /// Named buckets (sorted) and the <unset> bucket.
  std::map<std::string, Counts> buckets() const;
  std::optional<Counts> unset() const;
  /// Every distinct test (path, name) counted once, with its last outcome.
  Counts distinct() const;
  /// Expected ids that no test reported (in the expect file's order).
  std::vector<std::string> uncovered(const std::vector<std::string>& expected) const;

 private:
  struct TestOutcome {
    std::string status;
    std::vector<std::string> buckets;
  };
  std::string key_;
  std::map<std::pair<std::string, std::string>, TestOutcome> tests_;
};

/// Reads an --expect file: one id per line, blank lines and `#` comments skipped. Duplicate
/// ids are reported in `warnings` and kept once. Throws std::runtime_error if unreadable.
std::vector<std::string> read_expect_file(const std::string& path, std::vector<std::string>& warnings);

/// The plain-text report of REFERENCE §11.7.
std::string render_text(const Aggregate& a, const std::optional<std::vector<std::string>>& expected);
/// The JSON report: {"buckets":{...},"uncategorised":{...},"tests":{...},"uncovered":[...]}.
std::string render_json(const Aggregate& a, const std::optional<std::vector<std::string>>& expected);

}  // namespace provium::coverage
