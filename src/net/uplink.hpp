// bridge:enable_uplink() (REFERENCE §9.5, ours): guests reach the host's own loopback services
// and nothing else. A TCP connection from a guest to the bridge's gateway address, any port,
// is redirected (nft, in the file's namespace) to one listener of ours inside the namespace;
// a relay thread outside it connects to 127.0.0.1 on the port the guest asked for and copies
// bytes both ways. There is no route out of the namespace, so no packet of a test can leave the
// machine. (The original masqueraded to the host's default route instead.)
#pragma once

#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "net/netns.hpp"

namespace provium::net {

class UplinkProxy {
 public:
  explicit UplinkProxy(const NetNamespace& ns);
  ~UplinkProxy();
  UplinkProxy(const UplinkProxy&) = delete;
  UplinkProxy& operator=(const UplinkProxy&) = delete;

  /// The listener's port inside the namespace (the nft redirect target).
  std::uint16_t port() const { return port_; }

 private:
  void run();

  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace provium::net
