#include "scheduler/psi.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace provium::scheduler {
namespace {

std::optional<std::string> slurp(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::optional<double> parse_some_avg10(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("some ", 0) != 0) continue;
    auto pos = line.find("avg10=");
    if (pos == std::string::npos) return std::nullopt;
    const char* start = line.c_str() + pos + 6;
    char* end = nullptr;
    double v = std::strtod(start, &end);
    if (end == start || v < 0 || v > 100) return std::nullopt;
    return v;
  }
  return std::nullopt;
}

std::string PsiMonitor::default_root() {
  const char* env = std::getenv("PROVIUM_PSI_ROOT");
  return env && *env ? env : "/proc/pressure";
}

PsiMonitor::PsiMonitor(std::string root, double threshold)
    : root_(std::move(root)), threshold_(threshold) {
  auto mem = slurp(root_ + "/memory");
  available_ = mem && parse_some_avg10(*mem);
}

std::optional<std::string> PsiMonitor::read_now() const {
  for (const char* which : {"cpu", "memory"}) {
    auto text = slurp(root_ + "/" + which);
    if (!text) continue;
    auto v = parse_some_avg10(*text);
    if (v && *v > threshold_)
      return fmt::format("{} some avg10={:.1f}% (threshold {:.0f}%)", which, *v, threshold_);
  }
  return std::nullopt;
}

std::optional<std::string> PsiMonitor::over_threshold() {
  if (!available_) return std::nullopt;
  std::lock_guard lk(mu_);
  auto now = std::chrono::steady_clock::now();
  if (now - last_read_ >= std::chrono::seconds(1)) {
    last_ = read_now();
    last_read_ = now;
  }
  return last_;
}

}  // namespace provium::scheduler
