#include "scheduler/durations.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

namespace provium::scheduler {

namespace fs = std::filesystem;

fs::path DurationHistory::default_path() {
  if (const char* p = std::getenv("PROVIUM_DURATIONS"); p && *p) return p;
  if (const char* h = std::getenv("HOME"); h && *h)
    return fs::path(h) / ".cache" / "provium" / "durations.json";
  return "/tmp/provium-durations.json";
}

DurationHistory DurationHistory::load(const fs::path& path) {
  DurationHistory h;
  std::ifstream in(path);
  if (!in) return h;
  try {
    auto j = nlohmann::json::parse(in);
    for (auto& [file, v] : j.at("files").items())
      if (v.is_object() && v.contains("duration_ms") && v["duration_ms"].is_number_integer())
        h.ms_[file] = v["duration_ms"].get<std::int64_t>();
  } catch (const std::exception&) {
    // A damaged history only loses the ordering hint; it is rewritten after the run.
  }
  return h;
}

std::string DurationHistory::save(const fs::path& path) const {
  nlohmann::json j;
  j["version"] = 1;
  j["files"] = nlohmann::json::object();
  for (auto& [file, ms] : ms_) j["files"][file] = {{"duration_ms", ms}};
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  fs::path tmp = path;
  tmp += fmt::format(".tmp.{}", ::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(1) << "\n";
    if (!out) return fmt::format("cannot write `{}`", tmp.string());
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return fmt::format("cannot write `{}`: {}", path.string(), ec.message());
  }
  return {};
}

std::optional<std::int64_t> DurationHistory::expected_ms(const std::string& file) const {
  auto it = ms_.find(file);
  if (it == ms_.end()) return std::nullopt;
  return it->second;
}

std::vector<size_t> DurationHistory::dispatch_order(const std::vector<std::string>& files) const {
  std::vector<size_t> order(files.size());
  std::iota(order.begin(), order.end(), 0);
  std::vector<std::int64_t> known;
  for (auto& f : files)
    if (auto e = expected_ms(f)) known.push_back(*e);
  if (known.empty()) return order;
  std::nth_element(known.begin(), known.begin() + known.size() / 2, known.end());
  std::int64_t median = known[known.size() / 2];
  std::vector<std::int64_t> expect(files.size());
  for (size_t i = 0; i < files.size(); ++i) expect[i] = expected_ms(files[i]).value_or(median);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return expect[a] > expect[b]; });
  return order;
}

}  // namespace provium::scheduler
