// MetaValue: the typed form of a test's `meta` table (REFERENCE §11.4), shared by the filter,
// the reports and the event stream.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace provium::events {

struct MetaValue;
using MetaArray = std::vector<MetaValue>;
using MetaMap = std::map<std::string, MetaValue>;  // sorted keys: deterministic output

/// Raw bytes that were not valid UTF-8 in Lua; kept apart from text so encoders emit `bin`.
struct MetaBytes {
  std::string data;
  bool operator==(const MetaBytes&) const = default;
};

struct MetaValue {
  using Variant = std::variant<std::monostate, bool, std::int64_t, double, std::string, MetaBytes,
                               MetaArray, MetaMap>;
  Variant v;

  bool is_null() const { return std::holds_alternative<std::monostate>(v); }
  const std::string* as_string() const { return std::get_if<std::string>(&v); }
  const MetaArray* as_array() const { return std::get_if<MetaArray>(&v); }
  const MetaMap* as_map() const { return std::get_if<MetaMap>(&v); }
  bool operator==(const MetaValue&) const = default;

  /// Truthiness as the meta keys `slow` and `skip` define it: true or a non-zero number.
  bool is_truthy_flag() const;
  /// True when the value is this string, or an array holding this string (--tag-meta, tags).
  bool contains_string(const std::string& s) const;
};

/// JSON rendering (bytes as an array of numbers is lossy; they are rendered as a
/// `{"$bytes": "<hex>"}` object so nothing is silently dropped).
nlohmann::json to_json(const MetaValue& v);
nlohmann::json to_json(const MetaMap& m);

/// Compact one-line rendering for `provium list --tests` and diagnostics.
std::string to_display(const MetaValue& v);

}  // namespace provium::events
