#include "runner/test_filter.hpp"

#include <fmt/format.h>

namespace provium::runner {
namespace {

const events::MetaValue* find(const events::MetaMap& meta, const std::string& key) {
  auto it = meta.find(key);
  return it == meta.end() ? nullptr : &it->second;
}

// `tags` may be an array of strings or one string (the single-string convenience).
std::vector<std::string> tags_of(const events::MetaMap& meta) {
  std::vector<std::string> out;
  auto v = find(meta, "tags");
  if (!v) return out;
  if (auto s = v->as_string()) out.push_back(*s);
  if (auto arr = v->as_array())
    for (auto& e : *arr)
      if (auto s = e.as_string()) out.push_back(*s);
  return out;
}

}  // namespace

std::optional<std::string> TestFilter::skip_reason(const events::MetaMap& meta) const {
  if (auto skip = find(meta, "skip")) {
    if (auto reason = skip->as_string()) return fmt::format("skipped: {}", *reason);
    if (skip->is_truthy_flag()) return std::string("skipped (meta.skip)");
  }
  if (auto slow = find(meta, "slow"); slow && slow->is_truthy_flag() && !include_slow)
    return std::string("filtered: slow tests skipped (pass --include-slow)");
  auto test_tags = tags_of(meta);
  for (auto& nt : no_tags)
    for (auto& t : test_tags)
      if (t == nt) return fmt::format("filtered: tagged `{}` (--no-tag)", nt);
  if (!tags.empty()) {
    bool any = false;
    for (auto& want : tags)
      for (auto& t : test_tags) any = any || t == want;
    if (!any) return std::string("filtered: did not match --tag");
  }
  for (auto& [k, v] : no_tag_meta) {
    if (auto mv = find(meta, k); mv && mv->contains_string(v))
      return fmt::format("filtered: meta {}={} (--no-tag-meta)", k, v);
  }
  // AND across keys (in first-seen order, so the reason names the first unmatched key),
  // OR within a key.
  std::vector<std::string> keys;
  for (auto& [k, v] : tag_meta)
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  for (auto& key : keys) {
    auto mv = find(meta, key);
    bool matched = false;
    for (auto& [k, v] : tag_meta)
      if (k == key && mv && mv->contains_string(v)) matched = true;
    if (!matched) return fmt::format("filtered: did not match --tag-meta {}", key);
  }
  return std::nullopt;
}

std::optional<std::pair<std::string, std::string>> parse_key_value(const std::string& text) {
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) return std::nullopt;
  return std::make_pair(text.substr(0, eq), text.substr(eq + 1));
}

}  // namespace provium::runner
