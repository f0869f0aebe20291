// Values derived from a file's contents (its SHA-256, a binary's `--version`), remembered by the
// file's identity: path, size, mtime, ctime, inode and device. Within a process always; across
// processes once set_file_memo_store() names a store file, so a provium run does not re-hash a
// 50 MB guest kernel or re-run `qemu --version` to compute fixture keys it computed last time.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

namespace provium::util {

/// One memo: in memory, and in `store` when it is not empty. The functions below use one
/// process-wide instance; tests make their own.
class FileMemo {
 public:
  explicit FileMemo(std::string store = {}) : store_(std::move(store)) {}
  /// Sets the store if none is set yet (the first call wins).
  void set_store(const std::string& path);
  /// See file_memo() below.
  std::string get(const std::string& kind, const std::string& path,
                  const std::function<std::string()>& compute);

 private:
  void load_locked();
  void save_locked();

  std::mutex mu_;
  std::map<std::string, std::string> values_;  // identity key -> value, this process
  std::string store_;
  bool loaded_ = false;
  nlohmann::json persisted_ = nlohmann::json::object();
};

/// Persists memoised values in `path` (a small JSON file, replaced atomically; concurrent
/// processes may each lose the other's newest entries, which are then recomputed). The first
/// call wins; later calls are ignored.
void set_file_memo_store(const std::string& path);

/// `compute()` for the file at `path`, or the value remembered under `kind` for the file's
/// current identity. Throws std::runtime_error naming the file when it cannot be stat()ed.
/// A value is persisted only when the file was last changed over two seconds before it was
/// computed: a write within the timestamp granularity of the one we saw could otherwise go
/// unnoticed (git's "racily clean" problem).
std::string file_memo(const std::string& kind, const std::string& path,
                      const std::function<std::string()>& compute);

}  // namespace provium::util
