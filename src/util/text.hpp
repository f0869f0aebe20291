// Small text helpers: UTF-8 validation, trimming, splitting, path display.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace provium::util {

/// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, max U+10FFFF).
bool is_valid_utf8(std::string_view s);

/// Replaces invalid UTF-8 sequences with U+FFFD so the text can go into JSON or XML.
std::string sanitize_utf8(std::string_view s);

std::string trim(std::string_view s);
std::vector<std::string> split_lines(std::string_view s);

/// The last `bytes` of the file at `path`, starting at a line boundary when cut ("" when
/// unreadable). For console logs.
std::string file_tail(const std::string& path, std::size_t bytes);

/// Collapses runs of whitespace (including newlines) to one space and trims the ends.
std::string collapse_whitespace(std::string_view s);

}  // namespace provium::util
