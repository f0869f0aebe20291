// The event bus: every host-side state transition is emitted here once, encoded once, and
// handed to the sinks in emission order (REFERENCE §11.6). A sink's trouble (a full disk, a
// stalled socket client) is reported once and never slows or fails the run.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "events/frame.hpp"

namespace provium::events {

class Sink {
 public:
  virtual ~Sink() = default;
  /// Writes one whole frame. Must not block for long; must not throw.
  virtual void write(const std::string& frame) = 0;
  /// A new --watch iteration starts (the events file is truncated).
  virtual void new_iteration() {}
};

class Bus {
 public:
  void add_sink(std::unique_ptr<Sink> sink);
  bool enabled() const { return !sinks_.empty(); }
  void emit(const std::string& kind, MetaMap payload);
  void new_iteration();

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<Sink>> sinks_;
};

/// `--save-events PATH` (and the --coverage temp file): append whole frames under flock so
/// concurrent writers interleave frames, never bytes; a failed write is rolled back.
std::unique_ptr<Sink> make_file_sink(const std::string& path, bool truncate_per_iteration, std::string& error);

/// `--events-stdout`: frames on fd 1.
std::unique_ptr<Sink> make_stdout_sink();

/// `--events-socket PATH`: a Unix listener fanning frames out to every client; a client whose
/// writes stall for more than 100 ms is dropped. The socket file is removed on destruction.
std::unique_ptr<Sink> make_socket_sink(const std::string& path, std::string& error);

/// Helpers to build payloads.
MetaValue amount(std::uint64_t memory_bytes, std::uint32_t cpus);
inline MetaValue str(std::string s) { return MetaValue{std::move(s)}; }
inline MetaValue num(std::int64_t v) { return MetaValue{v}; }

}  // namespace provium::events
