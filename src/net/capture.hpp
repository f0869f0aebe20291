// Packet capture (REFERENCE §5.15): tcpdump inside the file's network namespace writing
// classic pcap to a pipe. A feeder thread keeps every byte (so `save` always writes a whole
// pcap, header included, even after `read`s); `read` hands out what has not been read yet.
// Starting returns only once tcpdump says it is listening, so no packet sent after it is
// missed. tcpdump dies with provium (PR_SET_PDEATHSIG), and with the capture.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "net/netns.hpp"

namespace provium::net {

class PacketCapture {
 public:
  /// Starts tcpdump on `device` in `ns`. `label` ("capture of bridge `lan`") prefixes errors;
  /// `on_stop` runs once after tcpdump has flushed (also when starting fails). Throws
  /// std::runtime_error (tcpdump missing, no such device).
  PacketCapture(const NetNamespace& ns, const std::string& device, std::string label,
                std::function<void()> on_stop = nullptr);
  ~PacketCapture();  // stop()
  PacketCapture(const PacketCapture&) = delete;
  PacketCapture& operator=(const PacketCapture&) = delete;

  /// The bytes captured since the last read, "" when none arrived within `timeout_s`, nullopt
  /// once the capture has ended and everything was read.
  std::optional<std::string> read(double timeout_s);
  /// The whole pcap so far.
  std::string bytes() const;
  /// Stops the capture and writes the whole pcap to `path`; returns the bytes written.
  std::size_t save(const std::string& path);
  /// Stops tcpdump (SIGINT, so it flushes; SIGKILL after a second) and runs `on_stop`.
  void stop();
  const std::string& label() const { return label_; }

 private:
  struct State {
    mutable std::mutex mu;
    std::condition_variable cv;
    std::string data;
    std::size_t read_pos = 0;
    std::size_t dropped = 0;
    bool ended = false;
  };
  std::shared_ptr<State> st_ = std::make_shared<State>();
  pid_t pid_ = -1;
  std::thread feeder_;
  std::string label_;
  std::function<void()> on_stop_;
};

}  // namespace provium::net
