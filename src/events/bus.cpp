#include "events/bus.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "proto/fd_io.hpp"

namespace provium::events {

void Bus::add_sink(std::unique_ptr<Sink> sink) {
  std::lock_guard lk(mu_);
  sinks_.push_back(std::move(sink));
}

void Bus::emit(const std::string& kind, MetaMap payload) {
  if (sinks_.empty()) return;
  std::lock_guard lk(mu_);
  // Timestamp and encode under the lock so frames leave in timestamp order.
  Event e{now_ns(), kind, std::move(payload)};
  std::string frame = encode_frame(e);
  for (auto& s : sinks_) s->write(frame);
}

void Bus::new_iteration() {
  std::lock_guard lk(mu_);
  for (auto& s : sinks_) s->new_iteration();
}

MetaValue amount(std::uint64_t memory_bytes, std::uint32_t cpus) {
  MetaMap m;
  m["memory_bytes"] = MetaValue{static_cast<std::int64_t>(memory_bytes)};
  m["cpus"] = MetaValue{static_cast<std::int64_t>(cpus)};
  return MetaValue{std::move(m)};
}

namespace {

class FileSink : public Sink {
 public:
  FileSink(int fd, std::string path, bool truncate)
      : fd_(fd), path_(std::move(path)), truncate_(truncate) {}
  ~FileSink() override { ::close(fd_); }

  void write(const std::string& frame) override {
    ::flock(fd_, LOCK_EX);
    off_t before = ::lseek(fd_, 0, SEEK_END);
    if (!proto::write_all(fd_, frame.data(), frame.size())) {
      int err = errno;
      // Never leave half a frame behind: readers would lose sync with every later frame.
      if (before >= 0 && ::ftruncate(fd_, before) != 0) {
      }
      if (!warned_) {
        fmt::print(stderr, "provium: warning: --save-events `{}`: {}; events are being lost\n",
                   path_, std::strerror(err));
        warned_ = true;
      }
    } else if (warned_) {
      warned_ = false;
      fmt::print(stderr, "provium: --save-events `{}`: writing again\n", path_);
    }
    ::flock(fd_, LOCK_UN);
  }

  void new_iteration() override {
    if (!truncate_) return;
    ::flock(fd_, LOCK_EX);
    if (::ftruncate(fd_, 0) != 0)
      fmt::print(stderr, "provium: warning: --save-events `{}`: cannot truncate: {}\n", path_,
                 std::strerror(errno));
    ::flock(fd_, LOCK_UN);
  }

 private:
  int fd_;
  std::string path_;
  bool truncate_;
  bool warned_ = false;
};

class StdoutSink : public Sink {
 public:
  void write(const std::string& frame) override {
    if (broken_) return;
    if (!proto::write_all(1, frame.data(), frame.size())) {
      broken_ = true;
      fmt::print(stderr, "provium: warning: --events-stdout: {}; no more events on stdout\n",
                 std::strerror(errno));
    }
  }

 private:
  bool broken_ = false;
};

}  // namespace

std::unique_ptr<Sink> make_file_sink(const std::string& path, bool truncate_per_iteration,
                                     std::string& error) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = fmt::format("cannot open `{}`: {}", path, std::strerror(errno));
    return nullptr;
  }
  return std::make_unique<FileSink>(fd, path, truncate_per_iteration);
}

std::unique_ptr<Sink> make_stdout_sink() { return std::make_unique<StdoutSink>(); }

}  // namespace provium::events
