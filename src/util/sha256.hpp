// SHA-256 through OpenSSL: of bytes, of a file's contents, and of a file's contents memoised
// by its identity (util/file_memo.hpp) so keys over large kernels and images stay cheap.
#pragma once

#include <string>
#include <string_view>

namespace provium::util {

/// Lower-case hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

/// Lower-case hex SHA-256 of the file's contents. Throws std::runtime_error naming the file.
std::string sha256_file(const std::string& path);

/// As sha256_file, but remembered while the file's identity (path, size, mtime, ctime, inode)
/// stays the same: in this process, and across processes once a store is set (file_memo.hpp).
/// Thread-safe.
std::string sha256_file_memo(const std::string& path);

/// Incremental hashing for keys built from many parts.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view data);
  /// Appends `data` preceded by its length as 8 big-endian bytes, so parts cannot run into
  /// each other ("ab"+"c" differs from "a"+"bc").
  void update_framed(std::string_view data);
  std::string hex();

 private:
  void* ctx_;
};

}  // namespace provium::util
