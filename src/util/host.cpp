#include "util/host.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace provium::util {

std::optional<std::uint64_t> host_memory_total() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::uint64_t kb;
  std::string unit;
  while (in >> key >> kb) {
    std::getline(in, unit);
    if (key == "MemTotal:") return kb * 1024;
  }
  return std::nullopt;
}

std::optional<std::uint32_t> host_online_cpus() {
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  if (n <= 0) return std::nullopt;
  return static_cast<std::uint32_t>(n);
}

std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (!path) return {};
  std::stringstream ss(path);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

std::string self_dir() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.parent_path().string();
}

}  // namespace provium::util
