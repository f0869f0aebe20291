// A private network namespace for one test file's labs (issue: labs and networking). Created
// by unsharing on a short-lived thread and kept alive only by our descriptor, so when the file
// ends or provium dies in any way the kernel removes every bridge, TAP, veth, qdisc and nft
// table in it: nothing of ours can outlive us on the host, and two files (or two provium
// processes) that both name a bridge `lan` never meet.
#pragma once

#include <string>
#include <vector>

namespace provium::net {

struct CommandResult {
  int exit_code = -1;
  std::string out, err;
  bool ok() const { return exit_code == 0; }
};

class NetNamespace {
 public:
  /// Creates the namespace with its loopback up. Throws std::runtime_error with the reason.
  NetNamespace();
  ~NetNamespace();
  NetNamespace(const NetNamespace&) = delete;
  NetNamespace& operator=(const NetNamespace&) = delete;

  int fd() const { return fd_; }

  /// Runs `argv` (argv[0] looked up on PATH) inside the namespace, feeding `input` on stdin,
  /// and waits for it.
  CommandResult run(const std::vector<std::string>& argv, const std::string& input = "") const;
  /// run() that throws "<what>: `<cmd>` failed: <stderr>" unless it exits 0.
  std::string check(const std::vector<std::string>& argv, const std::string& input,
                    const std::string& what) const;

  /// Opens a TAP device named `name` inside the namespace (IFF_TAP | IFF_NO_PI,
  /// close-on-exec) and returns its descriptor; the device goes away when the last descriptor
  /// is closed. Throws std::runtime_error.
  int open_tap(const std::string& name) const;

 private:
  int fd_ = -1;
};

}  // namespace provium::net
