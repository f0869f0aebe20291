// Reading a stream the way the Lua Stream object does (REFERENCE §5.6): chunks as they come,
// up to a marker (bytes read past it are served first next time), or everything until the
// stream goes quiet. Shared by every stream-shaped object (process output, file tails, fd
// streams, the console).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/agent_client.hpp"

namespace provium::client {

class StreamReader {
 public:
  using Ms = std::chrono::milliseconds;
  explicit StreamReader(std::shared_ptr<StreamChannel> ch) : ch_(std::move(ch)) {}
  ~StreamReader() { close(); }
  StreamReader(const StreamReader&) = delete;
  StreamReader& operator=(const StreamReader&) = delete;

  /// The next chunk (held-back bytes first); nullopt on timeout or when closed, "" at EOF.
  /// Throws Interrupted when `intr` cuts the wait short.
  std::optional<std::string> next(Ms timeout, const InterruptCheck& intr);
  /// Everything up to and including `needle`. Throws std::runtime_error ("read_until timed
  /// out waiting for `x`", "stream EOF", "stream closed") or Interrupted.
  std::string read_until(const std::string& needle, Ms timeout, const InterruptCheck& intr);
  /// Chunks until the stream is quiet for 100 ms or `timeout` passes.
  std::vector<std::string> drain(Ms timeout, const InterruptCheck& intr);
  void close();
  bool closed() const { return closed_; }
  /// True once everything was read and the stream ended normally.
  bool eof() const;
  const std::shared_ptr<StreamChannel>& channel() const { return ch_; }

 private:
  std::shared_ptr<StreamChannel> ch_;
  std::string pending_;  // bytes read past a read_until match, served first
  bool closed_ = false;
};

}  // namespace provium::client
