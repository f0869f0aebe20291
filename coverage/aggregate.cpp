#include "coverage/aggregate.hpp"

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "util/text.hpp"

namespace provium::coverage {
namespace {

void bump(Counts& c, const std::string& status) {
  if (status == "passed") ++c.passed;
  else if (status == "failed") ++c.failed;
  else ++c.skipped;
}

std::string counts_text(const Counts& c) {
  return fmt::format("{} passed, {} failed, {} skipped", c.passed, c.failed, c.skipped);
}

nlohmann::ordered_json counts_json(const Counts& c) {
  nlohmann::ordered_json j;
  j["passed"] = c.passed;
  j["failed"] = c.failed;
  j["skipped"] = c.skipped;
  return j;
}

}  // namespace

void Aggregate::add(const events::Event& e) {
  std::string status;
  if (e.kind == "test_passed") status = "passed";
  else if (e.kind == "test_failed") status = "failed";
  else if (e.kind == "test_skipped") status = "skipped";
  else return;
  auto str = [&](const char* k) -> std::string {
    auto it = e.payload.find(k);
    return it != e.payload.end() && it->second.as_string() ? *it->second.as_string() : std::string();
  };
  TestOutcome t;
  t.status = status;
  auto meta_it = e.payload.find("meta");
  const events::MetaMap* meta = meta_it != e.payload.end() ? meta_it->second.as_map() : nullptr;
  if (meta) {
    if (auto v = meta->find(key_); v != meta->end()) {
      if (auto s = v->second.as_string()) t.buckets.push_back(*s);
      if (auto arr = v->second.as_array()) {
        std::set<std::string> seen;
        for (auto& el : *arr)
          if (auto s = el.as_string(); s && seen.insert(*s).second) t.buckets.push_back(*s);
      }
    }
  }
  if (t.buckets.empty()) t.buckets.push_back(kUnset);
  tests_[{str("path"), str("name")}] = std::move(t);
}

std::map<std::string, Counts> Aggregate::buckets() const {
  std::map<std::string, Counts> out;
  for (auto& [id, t] : tests_)
    for (auto& b : t.buckets)
      if (b != kUnset) bump(out[b], t.status);
  return out;
}

std::optional<Counts> Aggregate::unset() const {
  std::optional<Counts> out;
  for (auto& [id, t] : tests_)
    if (t.buckets.size() == 1 && t.buckets[0] == kUnset) {
      if (!out) out = Counts{};
      bump(*out, t.status);
    }
  return out;
}

Counts Aggregate::distinct() const {
  Counts c;
  for (auto& [id, t] : tests_) bump(c, t.status);
  return c;
}

std::vector<std::string> Aggregate::uncovered(const std::vector<std::string>& expected) const {
  auto b = buckets();
  std::vector<std::string> out;
  for (auto& id : expected)
    if (!b.count(id)) out.push_back(id);
  return out;
}

std::vector<std::string> read_expect_file(const std::string& path, std::vector<std::string>& warnings) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("--expect `{}`: {}", path, std::strerror(errno)));
  std::vector<std::string> ids;
  std::map<std::string, int> first_line;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::string id = util::trim(line);
    if (id.empty() || id[0] == '#') continue;
    auto [it, fresh] = first_line.emplace(id, n);
    if (!fresh) {
      warnings.push_back(fmt::format("--expect `{}` line {}: `{}` repeats line {}; counted once", path, n, id,
                                     it->second));
      continue;
    }
    ids.push_back(id);
  }
  if (in.bad()) throw std::runtime_error(fmt::format("--expect `{}`: read error", path));
  return ids;
}

std::string render_text(const Aggregate& a, const std::optional<std::vector<std::string>>& expected) {
  std::string out = fmt::format("coverage by `{}`:\n", a.key());
  Counts sum;
  int nbuckets = 0;
  auto line = [&](const std::string& name, const Counts& c) {
    out += fmt::format("  {}: {} tests ({})\n", name, c.total(), counts_text(c));
    sum.passed += c.passed;
    sum.failed += c.failed;
    sum.skipped += c.skipped;
    ++nbuckets;
  };
  for (auto& [name, c] : a.buckets()) line(name, c);
  if (auto u = a.unset()) line(kUnset, *u);
  out += "  ---\n";
  out += fmt::format("  buckets: {}; {}\n", nbuckets, counts_text(sum));
  Counts d = a.distinct();
  out += fmt::format("  tests: {} distinct; {}\n", d.total(), counts_text(d));
  if (expected) {
    auto missing = a.uncovered(*expected);
    out += fmt::format("  uncovered: {}\n", missing.size());
    for (auto& m : missing) out += fmt::format("    {}\n", m);
  }
  return out;
}

std::string render_json(const Aggregate& a, const std::optional<std::vector<std::string>>& expected) {
  nlohmann::ordered_json j;
  j["buckets"] = nlohmann::ordered_json::object();
  for (auto& [name, c] : a.buckets()) j["buckets"][name] = counts_json(c);
  j["uncategorised"] = counts_json(a.unset().value_or(Counts{}));
  j["tests"] = counts_json(a.distinct());
  if (expected) j["uncovered"] = a.uncovered(*expected);
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace provium::coverage
