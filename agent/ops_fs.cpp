// File-system operations (REFERENCE §6.7): whole-file read/write, handles, stat, listdir,
// mkdir, unlink, rename. Failures are OpResult errors carrying errno.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "agent/ops.hpp"
#include "agent/state.hpp"
#include "proto/protocol.hpp"

namespace provium::agent {
namespace {

using proto::Value;

constexpr std::int64_t kModeRead = 1 << 0, kModeWrite = 1 << 1, kModeCreate = 1 << 2,
                       kModeTruncate = 1 << 3, kModeAppend = 1 << 4, kModeExclusive = 1 << 5;

Value bin(std::string s) { return Value{proto::Bytes{std::move(s)}}; }

const char* entry_type(mode_t m) {
  if (S_ISREG(m)) return "file";
  if (S_ISDIR(m)) return "directory";
  if (S_ISLNK(m)) return "symlink";
  if (S_ISFIFO(m)) return "fifo";
  if (S_ISSOCK(m)) return "socket";
  if (S_ISBLK(m)) return "block_device";
  if (S_ISCHR(m)) return "char_device";
  return "other";
}

mode_t perm_field(const Value& p, mode_t dflt) {
  auto v = proto::int_field_or(p, "create_perm", dflt);
  if (v < 0 || v > 07777) throw proto::DecodeError("create_perm must be between 0 and 0o7777");
  return static_cast<mode_t>(v);
}

void op_read_file(Request& r) {
  std::string path = proto::str_field(r.payload, "path");
  std::string data = read_whole(path);
  proto::Map m;
  m["data"] = bin(std::move(data));
  r.reply(proto::op_ok(Value{std::move(m)}));
}

void op_write_file(Request& r) {
  std::string path = proto::str_field(r.payload, "path");
  std::string data = proto::bytes_field(r.payload, "data");
  std::string mode =
      proto::opt_field(r.payload, "mode") ? proto::str_field(r.payload, "mode") : "replace";
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC;
  if (mode == "replace")
    flags |= O_TRUNC;
  else if (mode == "append")
    flags |= O_APPEND;
  else if (mode == "exclusive")
    flags |= O_EXCL;
  else
    throw proto::DecodeError("mode must be replace, append or exclusive");
  Fd fd(::open(path.c_str(), flags, perm_field(r.payload, 0644)));
  if (!fd) throw OsError{errno, path};
  if (!write_all(fd.get(), data.data(), data.size())) throw OsError{errno, path};
  r.reply(proto::op_ok());
}

void op_open_file(Request& r) {
  std::string path = proto::str_field(r.payload, "path");
  std::int64_t mode = proto::int_field(r.payload, "mode");
  if (mode & ~std::int64_t{63}) throw proto::DecodeError("mode has unknown bits set");
  bool rd = mode & kModeRead, wr = (mode & kModeWrite) || (mode & kModeAppend);
  if (!rd && !wr) throw proto::DecodeError("mode needs read, write or append");
  int flags = O_CLOEXEC | (rd && wr ? O_RDWR : wr ? O_WRONLY : O_RDONLY);
  if (mode & kModeCreate) flags |= O_CREAT;
  if (mode & kModeTruncate) flags |= O_TRUNC;
  if (mode & kModeAppend) flags |= O_APPEND;
  if (mode & kModeExclusive) flags |= O_EXCL | O_CREAT;
  Fd fd(::open(path.c_str(), flags, perm_field(r.payload, 0644)));
  if (!fd) throw OsError{errno, path};
  auto f = std::make_shared<OpenFile>();
  f->fd = std::move(fd);
  f->path = path;
  r.reply(proto::op_ok(Value{State::get().add_file(std::move(f))}));
}

std::shared_ptr<OpenFile> file_or_error(Request& r) {
  std::int64_t h = proto::int_field(r.payload, "handle");
  auto f = State::get().file(h);
  if (!f)
    r.send("agent_error",
           proto::agent_error("unknown_handle", "no open file with handle " + std::to_string(h)));
  return f;
}

void op_read(Request& r) {
  auto f = file_or_error(r);
  if (!f) return;
  std::int64_t max = proto::int_field(r.payload, "max_bytes");
  if (max < 0 || max > (64 << 20))
    throw proto::DecodeError("max_bytes must be between 0 and 64 MiB");
  std::string buf(static_cast<size_t>(max), '\0');
  std::lock_guard lk(f->mu);
  ssize_t n = ::read(f->fd.get(), buf.data(), buf.size());
  if (n < 0) throw OsError{errno, f->path};
  buf.resize(static_cast<size_t>(n));
  proto::Map m;
  m["data"] = bin(std::move(buf));
  r.reply(proto::op_ok(Value{std::move(m)}));
}

void op_write(Request& r) {
  auto f = file_or_error(r);
  if (!f) return;
  std::string data = proto::bytes_field(r.payload, "data");
  std::lock_guard lk(f->mu);
  ssize_t n = ::write(f->fd.get(), data.data(), data.size());
  if (n < 0) throw OsError{errno, f->path};
  proto::Map m;
  m["written"] = Value{static_cast<std::int64_t>(n)};
  r.reply(proto::op_ok(Value{std::move(m)}));
}

void op_seek(Request& r) {
  auto f = file_or_error(r);
  if (!f) return;
  std::int64_t off = proto::int_field(r.payload, "offset");
  std::string whence = proto::str_field(r.payload, "whence");
  int w = whence == "set" ? SEEK_SET : whence == "cur" ? SEEK_CUR : whence == "end" ? SEEK_END : -1;
  if (w < 0) throw proto::DecodeError("whence must be set, cur or end");
  std::lock_guard lk(f->mu);
  off_t pos = ::lseek(f->fd.get(), off, w);
  if (pos < 0) throw OsError{errno, f->path};
  r.reply(proto::op_ok(Value{static_cast<std::int64_t>(pos)}));
}

void op_close(Request& r) {
  std::int64_t h = proto::int_field(r.payload, "handle");
  if (!State::get().remove_file(h)) {
    r.send("agent_error",
           proto::agent_error("unknown_handle", "no open file with handle " + std::to_string(h)));
    return;
  }
  r.reply(proto::op_ok());
}

void op_stat(Request& r) {
  std::string path = proto::str_field(r.payload, "path");
  bool follow = proto::bool_field_or(r.payload, "follow_symlinks", true);
  struct stat st {};
  if ((follow ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st)) != 0)
    throw OsError{errno, path};
  proto::Map m;
  m["size"] = Value{static_cast<std::int64_t>(st.st_size)};
  m["mtime_ns"] =
      Value{static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  m["entry_type"] = Value{entry_type(st.st_mode)};
  m["perm"] = Value{static_cast<std::int64_t>(st.st_mode & 07777)};
  r.reply(proto::op_ok(Value{std::move(m)}));
}

void op_listdir(Request& r) {
  std::string path = proto::str_field(r.payload, "path");
  DIR* d = ::opendir(path.c_str());
  if (!d) throw OsError{errno, path};
  std::vector<std::pair<std::string, std::string>> entries;
  while (auto* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st {};
    std::string type = "other";
    if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
      type = entry_type(st.st_mode);
    entries.emplace_back(std::move(name), std::move(type));
  }
  ::closedir(d);
  std::sort(entries.begin(), entries.end());
  proto::Array out;
  for (auto& [name, type] : entries) {
    proto::Map m;
    m["name"] = Value{name};
    m["entry_type"] = Value{type};
    out.emplace_back(std::move(m));
  }
  r.reply(proto::op_ok(Value{std::move(out)}));
}

int mkdir_p(const std::string& path, mode_t perm) {
  std::string cur;
  size_t i = 0;
  while (i <= path.size()) {
    size_t slash = path.find('/', i);
    if (slash == std::string::npos) slash = path.size();
    cur = path.substr(0, slash);
    i = slash + 1;
    if (cur.empty()) continue;
    if (::mkdir(cur.c_str(), perm) != 0 && errno != EEXIST) return errno;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno;
  return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

void op_mkdir(Request& r) {
  std::string path = proto::str_field(r.payload, "path");
  bool parents = proto::bool_field_or(r.payload, "parents", false);
  mode_t perm = perm_field(r.payload, 0755);
  if (parents) {
    if (int err = mkdir_p(path, perm)) throw OsError{err, path};
  } else if (::mkdir(path.c_str(), perm) != 0) {
    throw OsError{errno, path};
  }
  r.reply(proto::op_ok());
}

void op_unlink(Request& r) {
  std::string path = proto::str_field(r.payload, "path");
  if (::unlink(path.c_str()) != 0) {
    int err = errno;
    if ((err == EISDIR || err == EPERM) && ::rmdir(path.c_str()) == 0) {
      r.reply(proto::op_ok());
      return;
    }
    throw OsError{err == EPERM ? errno : err, path};
  }
  r.reply(proto::op_ok());
}

void op_rename(Request& r) {
  std::string from = proto::str_field(r.payload, "from"), to = proto::str_field(r.payload, "to");
  if (::rename(from.c_str(), to.c_str()) != 0) throw OsError{errno, from + " -> " + to};
  r.reply(proto::op_ok());
}

}  // namespace

void register_fs_ops(Registry& reg) {
  reg["read_file"] = op_read_file;
  reg["write_file"] = op_write_file;
  reg["open_file"] = op_open_file;
  reg["read"] = op_read;
  reg["write"] = op_write;
  reg["seek"] = op_seek;
  reg["close"] = op_close;
  reg["stat"] = op_stat;
  reg["listdir"] = op_listdir;
  reg["mkdir"] = op_mkdir;
  reg["unlink"] = op_unlink;
  reg["rename"] = op_rename;
}

}  // namespace provium::agent
