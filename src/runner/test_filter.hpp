// Per-test selection (filter precedence steps 5-10 of the seed CLI reference): decides from a
// test's meta whether it runs, and if not, the exact skip reason users see.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "events/meta_value.hpp"

namespace provium::runner {

struct TestFilter {
  bool include_slow = false;
  std::vector<std::string> tags;     // --tag (OR)
  std::vector<std::string> no_tags;  // --no-tag (OR, wins)
  std::vector<std::pair<std::string, std::string>> tag_meta;     // --tag-meta KEY=VALUE
  std::vector<std::pair<std::string, std::string>> no_tag_meta;  // --no-tag-meta KEY=VALUE

  /// nullopt: the test runs. Otherwise the skip reason, first match deciding:
  /// meta.skip, meta.slow, --no-tag, --tag, --no-tag-meta, --tag-meta.
  std::optional<std::string> skip_reason(const events::MetaMap& meta) const;
};

/// Splits "KEY=VALUE" on the first '='. Returns nullopt when there is no '=' or KEY is empty.
std::optional<std::pair<std::string, std::string>> parse_key_value(const std::string& text);

}  // namespace provium::runner
