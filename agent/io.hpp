// Small POSIX helpers for the agent: owned fds, whole reads/writes, errno-carrying errors.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <functional>
#include <string>
#include <utility>

#include "proto/fd_io.hpp"

namespace provium::agent {

/// A move-only file descriptor closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  explicit operator bool() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

/// An operation failed with this errno (turned into an OpResult error).
struct OsError {
  int err;
  std::string context;
};

using proto::write_all;
/// Reads the whole file at `path`; throws OsError.
std::string read_whole(const std::string& path);

/// Runs `fn` on its own thread, as concurrent as `std::thread(fn).detach()`, but on a pooled
/// thread when one is idle: a request then costs no thread creation, and no stack pages given
/// back at exit and faulted in again by the next thread. Idle threads linger a while, then go.
void run_detached(std::function<void()> fn);

}  // namespace provium::agent
