#include "runner/discovery.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>

namespace provium::runner {
namespace {

bool has_suffix(const std::string& name, const std::string& suffix) {
  return name.size() > suffix.size() && name.ends_with(suffix);
}

bool is_under(const fs::path& p, const fs::path& dir) {
  auto rel = p.lexically_relative(dir);
  return !rel.empty() && *rel.begin() != "..";
}

std::string rel_string(const fs::path& p, const fs::path& base) {
  return p.lexically_relative(base).generic_string();
}

}  // namespace

std::string display_path(const fs::path& abs) {
  std::error_code ec;
  fs::path cwd = fs::current_path(ec);
  if (!ec && is_under(abs, cwd)) return rel_string(abs, cwd);
  return abs.generic_string();
}

Discovery discover(const std::vector<std::string>& paths, const std::vector<fs::path>& config_roots,
                   const std::string& suffix) {
  Discovery d;
  std::error_code ec;
  fs::path cwd = fs::current_path(ec);
  // Each entry: (path to walk, the root its files are relative to).
  std::vector<std::pair<fs::path, fs::path>> walks;
  if (!paths.empty()) {
    for (auto& p : paths) {
      fs::path abs = fs::absolute(p, ec).lexically_normal();
      if (abs.has_filename() == false) abs = abs.parent_path();
      if (!fs::exists(abs, ec)) {
        d.problems.push_back(fmt::format("path `{}` does not exist", p));
        continue;
      }
      if (fs::is_directory(abs, ec)) {
        walks.emplace_back(abs, abs);
      } else if (has_suffix(abs.filename().string(), suffix)) {
        walks.emplace_back(abs, abs.parent_path());
      } else {
        d.problems.push_back(fmt::format(
            "path `{}` is neither a directory nor a `*{}` file", p, suffix));
      }
    }
  } else if (!config_roots.empty()) {
    for (auto& r : config_roots) {
      if (!fs::is_directory(r, ec)) {
        d.problems.push_back(fmt::format("root `{}` from [provium] roots is not a directory",
                                         display_path(r)));
        continue;
      }
      walks.emplace_back(r, r);
    }
  } else {
    walks.emplace_back(cwd, cwd);
  }
  // Config roots always serve `require` and fixture names; CLI dirs act as roots when no
  // config roots exist (REFERENCE §3.2).
  if (!config_roots.empty()) {
    d.roots = config_roots;
  } else {
    for (auto& [walk, root] : walks)
      if (std::find(d.roots.begin(), d.roots.end(), root) == d.roots.end()) d.roots.push_back(root);
  }

  std::set<fs::path> seen;
  auto add = [&](const fs::path& file, const fs::path& walk_root) {
    fs::path abs = file.lexically_normal();
    if (!seen.insert(abs).second) return;
    // The root is the deepest configured root containing the file, else the walked one.
    fs::path root;
    for (auto& r : d.roots)
      if (is_under(abs, r) && r.string().size() > root.string().size()) root = r;
    if (root.empty()) root = is_under(abs, walk_root) ? walk_root : abs.parent_path();
    d.files.push_back(TestFile{abs, display_path(abs), rel_string(abs, root), root});
  };
  for (auto& [walk, root] : walks) {
    if (!fs::is_directory(walk, ec)) {
      add(walk, root);
      continue;
    }
    auto it = fs::recursive_directory_iterator(
        walk, fs::directory_options::skip_permission_denied, ec);
    if (ec) {
      d.problems.push_back(fmt::format("cannot read `{}`: {}", display_path(walk), ec.message()));
      continue;
    }
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) {
        d.problems.push_back(fmt::format("cannot read under `{}`: {}", display_path(walk), ec.message()));
        break;
      }
      const auto& entry = *it;
      std::string name = entry.path().filename().string();
      // Hidden directories (.git, .provium-meta) and build trees never hold tests.
      if (entry.is_directory(ec) && !name.empty() && name[0] == '.') {
        it.disable_recursion_pending();
        continue;
      }
      if (entry.is_regular_file(ec) && has_suffix(name, suffix)) add(entry.path(), root);
    }
  }
  std::sort(d.files.begin(), d.files.end(),
            [](const TestFile& a, const TestFile& b) { return a.display < b.display; });
  return d;
}

void apply_filter(std::vector<TestFile>& files, const std::string& needle) {
  std::erase_if(files, [&](const TestFile& f) { return f.root_rel.find(needle) == std::string::npos; });
}

void apply_partition(std::vector<TestFile>& files, const scheduler::Partition& p) {
  std::vector<std::string> keys;
  for (auto& f : files) keys.push_back(f.root_rel);
  std::vector<TestFile> kept;
  for (size_t i : scheduler::select_partition(keys, p)) kept.push_back(std::move(files[i]));
  files = std::move(kept);
}

std::optional<std::string> apply_since(std::vector<TestFile>& files, const fs::path& reference) {
  std::error_code ec;
  auto ref = fs::last_write_time(reference, ec);
  if (ec) return fmt::format("--since `{}`: {}", reference.string(), ec.message());
  std::erase_if(files, [&](const TestFile& f) {
    std::error_code e2;
    auto t = fs::last_write_time(f.abs, e2);
    return e2 || !(t > ref);
  });
  return std::nullopt;
}

fs::path rerun_state_path() {
  if (const char* p = std::getenv("PROVIUM_RERUN_STATE"); p && *p) return p;
  if (const char* h = std::getenv("HOME"); h && *h)
    return fs::path(h) / ".cache" / "provium" / "rerun.json";
  return "/tmp/provium-rerun.json";
}

std::optional<std::vector<std::string>> read_rerun_state(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("rerun state `{}`: cannot read", path.string()));
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(ss.str());
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format(
        "rerun state `{}` is not valid JSON ({}); delete it to start over", path.string(), e.what()));
  }
  if (!j.is_array())
    throw std::runtime_error(fmt::format(
        "rerun state `{}` must be a JSON array of paths; delete it to start over", path.string()));
  std::vector<std::string> out;
  for (auto& e : j)
    if (e.is_string()) out.push_back(e.get<std::string>());
  return out;
}

void write_rerun_state(const fs::path& path, const std::vector<std::string>& failed) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  fs::path tmp = path;
  tmp += fmt::format(".tmp.{}", ::getpid());
  std::string body = nlohmann::json(failed).dump(2, ' ', false,
                                                 nlohmann::json::error_handler_t::replace) + "\n";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw std::runtime_error(fmt::format("rerun state `{}`: {}", tmp.string(), std::strerror(errno)));
  size_t off = 0;
  while (off < body.size()) {
    ssize_t n = ::write(fd, body.data() + off, body.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw std::runtime_error(fmt::format("rerun state `{}`: {}", tmp.string(), std::strerror(err)));
    }
    off += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error(fmt::format("rerun state `{}`: {}", path.string(), std::strerror(err)));
  }
}

void apply_rerun(std::vector<TestFile>& files, const std::vector<std::string>& failed) {
  std::set<std::string> want;
  for (auto& f : failed) {
    std::error_code ec;
    auto c = fs::weakly_canonical(f, ec);
    want.insert(ec ? f : c.string());
  }
  std::erase_if(files, [&](const TestFile& f) {
    std::error_code ec;
    auto c = fs::weakly_canonical(f.abs, ec);
    return !want.count(ec ? f.abs.string() : c.string());
  });
}

}  // namespace provium::runner
