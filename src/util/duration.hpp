// Duration and size strings shared by the CLI, provium.toml and Lua (REFERENCE §4.8).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace provium::util {

using Millis = std::chrono::milliseconds;

/// Result of parsing a user-written value: the value, or a sentence saying what is wrong.
template <typename T>
struct Parsed {
  std::optional<T> value;
  std::string error;  // set when !value
  explicit operator bool() const { return value.has_value(); }
};

/// Parses "500ms", "30s", "1.5s", "10m", "2h" or a bare number of seconds ("30", "0.5").
/// Rejects negatives, NaN, infinity, empty strings and unknown suffixes.
Parsed<double> parse_duration_seconds(std::string_view text);

/// Same, as whole milliseconds (rounded to nearest).
Parsed<Millis> parse_duration_ms(std::string_view text);

/// Validates a numeric duration (from Lua or TOML): finite and not negative.
Parsed<double> check_duration_seconds(double seconds);

/// Human form of a duration: "500ms", "30s", "1.5s" (minutes are shown as seconds: "600s").
std::string format_duration(double seconds);

/// Parses a size: integer bytes or "<integer>[K|M|G|T][B|iB]" (case-insensitive, powers of 1024).
Parsed<std::uint64_t> parse_size(std::string_view text);

/// "23.45MiB"-style rendering used by reports.
std::string format_size(std::uint64_t bytes);

}  // namespace provium::util
