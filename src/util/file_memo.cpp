#include "util/file_memo.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace provium::util {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxPersisted = 512;  // a store past this starts over: stale paths pile up
constexpr long long kRacyNs = 2'000'000'000;

long long ns_of(const timespec& t) {
  return static_cast<long long>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

}  // namespace

void FileMemo::load_locked() {
  if (loaded_ || store_.empty()) return;
  loaded_ = true;
  std::ifstream in(store_);
  if (!in) return;
  try {
    auto j = nlohmann::json::parse(in);
    if (j.is_object()) persisted_ = std::move(j);
  } catch (const nlohmann::json::exception&) {
    // A damaged store (a crash mid-write cannot cause one, the rename is atomic; a hand edit
    // can) is only a lost memo.
  }
}

// Failing to write is not an error: the values are computed again next time.
void FileMemo::save_locked() {
  std::error_code ec;
  fs::create_directories(fs::path(store_).parent_path(), ec);
  std::string tmp = fmt::format("{}.tmp.{}", store_, ::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return;
    out << persisted_.dump();
    if (!out.flush()) {
      fs::remove(tmp, ec);
      return;
    }
  }
  fs::rename(tmp, store_, ec);
  if (ec) fs::remove(tmp, ec);
}

void FileMemo::set_store(const std::string& path) {
  std::lock_guard lk(mu_);
  if (store_.empty()) store_ = path;
}

std::string FileMemo::get(const std::string& kind, const std::string& path,
                          const std::function<std::string()>& compute) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw std::runtime_error(fmt::format("cannot read `{}`: {}", path, std::strerror(errno)));
  std::string key = fmt::format("{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}", kind, path, st.st_size,
                                ns_of(st.st_mtim), ns_of(st.st_ctim), st.st_ino, st.st_dev);
  {
    std::lock_guard lk(mu_);
    if (auto it = values_.find(key); it != values_.end()) return it->second;
    load_locked();
    if (auto it = persisted_.find(key); it != persisted_.end() && it->is_string()) {
      values_[key] = it->get<std::string>();
      return values_[key];
    }
  }
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  std::string value = compute();  // outside the lock: hashing a kernel takes a while
  std::lock_guard lk(mu_);
  values_[key] = value;
  bool settled = ns_of(now) - std::max(ns_of(st.st_mtim), ns_of(st.st_ctim)) > kRacyNs;
  if (!store_.empty() && settled) {
    if (persisted_.size() >= kMaxPersisted) persisted_ = nlohmann::json::object();
    persisted_[key] = value;
    save_locked();
  }
  return value;
}

namespace {
FileMemo& process_memo() {
  static FileMemo m;
  return m;
}
}  // namespace

void set_file_memo_store(const std::string& path) { process_memo().set_store(path); }

std::string file_memo(const std::string& kind, const std::string& path,
                      const std::function<std::string()>& compute) {
  return process_memo().get(kind, path, compute);
}

}  // namespace provium::util
