#include "util/file_memo.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace provium::util {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxPersisted = 512;  // a store past this starts over: stale paths pile up
constexpr long long kRacyNs = 2'000'000'000;

struct Memo {
  std::mutex mu;
  std::map<std::string, std::string> values;  // identity key -> value, this process
  std::string store;                          // "" until set_file_memo_store
  bool loaded = false;
  nlohmann::json persisted = nlohmann::json::object();
};

Memo& memo() {
  static Memo m;
  return m;
}

long long ns_of(const timespec& t) {
  return static_cast<long long>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

// Caller holds the lock.
void load_locked(Memo& m) {
  if (m.loaded || m.store.empty()) return;
  m.loaded = true;
  std::ifstream in(m.store);
  if (!in) return;
  try {
    auto j = nlohmann::json::parse(in);
    if (j.is_object()) m.persisted = std::move(j);
  } catch (const nlohmann::json::exception&) {
    // A damaged store (a crash mid-write cannot cause one, the rename is atomic; a hand edit
    // can) is only a lost memo.
  }
}

// Caller holds the lock. Failing to write is not an error: the values are recomputed next time.
void save_locked(Memo& m) {
  std::error_code ec;
  fs::create_directories(fs::path(m.store).parent_path(), ec);
  std::string tmp = fmt::format("{}.tmp.{}", m.store, ::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return;
    out << m.persisted.dump();
    if (!out.flush()) {
      fs::remove(tmp, ec);
      return;
    }
  }
  fs::rename(tmp, m.store, ec);
  if (ec) fs::remove(tmp, ec);
}

}  // namespace

void set_file_memo_store(const std::string& path) {
  Memo& m = memo();
  std::lock_guard lk(m.mu);
  if (m.store.empty()) m.store = path;
}

std::string file_memo(const std::string& kind, const std::string& path,
                      const std::function<std::string()>& compute) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw std::runtime_error(fmt::format("cannot read `{}`: {}", path, std::strerror(errno)));
  std::string key = fmt::format("{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}", kind, path, st.st_size,
                                ns_of(st.st_mtim), ns_of(st.st_ctim), st.st_ino, st.st_dev);
  Memo& m = memo();
  {
    std::lock_guard lk(m.mu);
    if (auto it = m.values.find(key); it != m.values.end()) return it->second;
    load_locked(m);
    if (auto it = m.persisted.find(key); it != m.persisted.end() && it->is_string()) {
      m.values[key] = it->get<std::string>();
      return m.values[key];
    }
  }
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  std::string value = compute();  // outside the lock: hashing a kernel takes a while
  std::lock_guard lk(m.mu);
  m.values[key] = value;
  bool settled = ns_of(now) - std::max(ns_of(st.st_mtim), ns_of(st.st_ctim)) > kRacyNs;
  if (!m.store.empty() && settled) {
    if (m.persisted.size() >= kMaxPersisted) m.persisted = nlohmann::json::object();
    m.persisted[key] = value;
    save_locked(m);
  }
  return value;
}

}  // namespace provium::util
