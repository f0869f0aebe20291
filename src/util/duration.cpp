#include "util/duration.hpp"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

namespace provium::util {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Parses a plain decimal number (digits with an optional fraction); no sign, no exponent, so
// "1e3s" or "+5" are rejected rather than silently accepted.
std::optional<double> parse_plain_decimal(std::string_view s) {
  if (s.empty()) return std::nullopt;
  bool seen_digit = false, seen_dot = false;
  for (char c : s) {
    if (c >= '0' && c <= '9') {
      seen_digit = true;
    } else if (c == '.' && !seen_dot) {
      seen_dot = true;
    } else {
      return std::nullopt;
    }
  }
  if (!seen_digit) return std::nullopt;
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

Parsed<double> check_duration_seconds(double seconds) {
  if (std::isnan(seconds)) return {std::nullopt, "duration must be a number, got NaN"};
  if (std::isinf(seconds)) return {std::nullopt, "duration must be finite, got infinity"};
  if (seconds < 0) return {std::nullopt, fmt::format("duration must not be negative, got {}", seconds)};
  return {seconds, {}};
}

Parsed<double> parse_duration_seconds(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Parsed<double>{std::nullopt,
                          fmt::format("invalid duration `{}`: {} (use e.g. 500ms, 30s, 10m, 2h)",
                                      text, why)};
  };
  std::string t = lower(text);
  // Trim surrounding blanks: "30s " from a config file is still clearly 30 seconds.
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
  size_t start = 0;
  while (start < t.size() && std::isspace(static_cast<unsigned char>(t[start]))) ++start;
  t = t.substr(start);
  if (t.empty()) return bad("empty");
  if (t[0] == '-') return bad("must not be negative");
  size_t unit_at = t.size();
  while (unit_at > 0 && std::isalpha(static_cast<unsigned char>(t[unit_at - 1]))) --unit_at;
  std::string_view number(t.data(), unit_at);
  std::string_view unit(t.data() + unit_at, t.size() - unit_at);
  double scale;
  if (unit.empty() || unit == "s") {
    scale = 1;
  } else if (unit == "ms") {
    scale = 0.001;
  } else if (unit == "m") {
    scale = 60;
  } else if (unit == "h") {
    scale = 3600;
  } else {
    return bad(fmt::format("unknown unit `{}`", unit));
  }
  auto v = parse_plain_decimal(number);
  if (!v) return bad("not a number");
  double secs = *v * scale;
  if (!std::isfinite(secs)) return bad("too large");
  return {secs, {}};
}

Parsed<Millis> parse_duration_ms(std::string_view text) {
  auto p = parse_duration_seconds(text);
  if (!p) return {std::nullopt, p.error};
  if (*p.value > 1e12) return {std::nullopt, fmt::format("invalid duration `{}`: too large", text)};
  auto ms = static_cast<int64_t>(std::llround(*p.value * 1000.0));
  // A tiny but non-zero duration must not round to 0, which means "disabled" for --timeout.
  if (ms == 0 && *p.value > 0) ms = 1;
  return {Millis(ms), {}};
}

std::string format_duration(double seconds) {
  if (seconds > 0 && seconds < 1) {
    double ms = seconds * 1000.0;
    if (std::fabs(ms - std::round(ms)) < 1e-6) return fmt::format("{}ms", std::llround(ms));
  }
  if (std::fabs(seconds - std::round(seconds)) < 1e-9) {
    auto s = std::llround(seconds);
    return fmt::format("{}s", s);
  }
  return fmt::format("{}s", seconds);
}

Parsed<std::uint64_t> parse_size(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Parsed<std::uint64_t>{
        std::nullopt,
        fmt::format("invalid size `{}`: {} (use bytes or e.g. 512M, 4G, 1024K)", text, why)};
  };
  std::string t = lower(text);
  if (t.empty()) return bad("empty");
  if (t[0] == '-') return bad("must not be negative");
  // Strip an optional "b" / "ib" tail after a multiplier letter ("4GiB", "4GB"); a bare "b"
  // ("512b") means bytes.
  if (t.size() >= 2 && t.ends_with("ib")) {
    t.resize(t.size() - 2);
    if (t.empty() || !std::strchr("kmgt", t.back())) return bad("`iB` must follow K, M, G or T");
  } else if (t.ends_with("b")) {
    t.pop_back();
  }
  uint64_t mult = 1;
  if (!t.empty()) {
    switch (t.back()) {
      case 'k': mult = 1ull << 10; break;
      case 'm': mult = 1ull << 20; break;
      case 'g': mult = 1ull << 30; break;
      case 't': mult = 1ull << 40; break;
      default: break;
    }
    if (mult != 1) t.pop_back();
  }
  if (t.empty()) return bad("missing number");
  for (char c : t) {
    if (c < '0' || c > '9') return bad("not an integer with an optional K/M/G/T suffix");
  }
  uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
  if (ec != std::errc() || ptr != t.data() + t.size()) return bad("too large");
  if (n > std::numeric_limits<uint64_t>::max() / mult) return bad("too large");
  return {n * mult, {}};
}

std::string format_size(std::uint64_t bytes) {
  constexpr double kMiB = 1024.0 * 1024.0;
  if (bytes >= (1ull << 30)) return fmt::format("{:.2f}GiB", bytes / (kMiB * 1024.0));
  return fmt::format("{:.2f}MiB", bytes / kMiB);
}

}  // namespace provium::util
