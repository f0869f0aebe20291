// The one dynamic value type of the project: what msgpack carries on the agent wire and in the
// event stream, and what a test's `meta` table becomes (REFERENCE §6.6, §11.4). Header-only so
// the static agent can use it without the host's libraries.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace provium::proto {

struct Value;
using Array = std::vector<Value>;
using Map = std::map<std::string, Value>;  // sorted keys: deterministic bytes

/// Raw bytes (msgpack `bin`), kept apart from text (`str`).
struct Bytes {
  std::string data;
  bool operator==(const Bytes&) const = default;
};

struct Value {
  using Variant = std::variant<std::monostate, bool, std::int64_t, double, std::string, Bytes, Array, Map>;
  Variant v;

  Value() = default;
  template <typename T>
  Value(T&& x) requires std::is_constructible_v<Variant, T&&> : v(std::forward<T>(x)) {}
  Value(int x) : v(static_cast<std::int64_t>(x)) {}
  Value(unsigned x) : v(static_cast<std::int64_t>(x)) {}
  Value(std::uint64_t x) : v(static_cast<std::int64_t>(x)) {}
  Value(long long x) : v(static_cast<std::int64_t>(x)) {}
  Value(const char* s) : v(std::string(s)) {}

  bool is_null() const { return std::holds_alternative<std::monostate>(v); }
  const std::string* as_string() const { return std::get_if<std::string>(&v); }
  const Bytes* as_bytes() const { return std::get_if<Bytes>(&v); }
  const Array* as_array() const { return std::get_if<Array>(&v); }
  const Map* as_map() const { return std::get_if<Map>(&v); }
  const std::int64_t* as_int() const { return std::get_if<std::int64_t>(&v); }
  const bool* as_bool() const { return std::get_if<bool>(&v); }
  bool operator==(const Value&) const = default;

  /// Truthiness as the meta keys `slow` and `skip` define it: true or a non-zero number.
  bool is_truthy_flag() const {
    if (auto b = std::get_if<bool>(&v)) return *b;
    if (auto i = std::get_if<std::int64_t>(&v)) return *i != 0;
    if (auto d = std::get_if<double>(&v)) return *d != 0.0;
    return false;
  }
  /// True when the value is this string, or an array holding this string.
  bool contains_string(const std::string& s) const {
    if (auto str = as_string()) return *str == s;
    if (auto arr = as_array())
      for (auto& e : *arr)
        if (auto es = e.as_string(); es && *es == s) return true;
    return false;
  }
};

}  // namespace provium::proto
