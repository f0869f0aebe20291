// One lab bridge (REFERENCE §9): its graph state (members, partitions, isolation,
// impairments) and its realisation inside the file's network namespace: a Linux bridge, one
// TAP port per member (fed by the member's pump, net/pump.hpp), one nft table for partitions
// and loss (a random draw per frame and path), tc HTB on the receiving ports for bandwidth, and
// delay in the pumps. Every rule change replaces the whole nft table in one
// transaction and every qdisc change is one `tc -batch`, so there is no instant where the old
// rules are gone and the new ones are not yet there.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "net/netns.hpp"
#include "net/pump.hpp"

namespace provium::net {

struct Impairment {
  double latency_ms = 0;
  double jitter_ms = 0;
  double drop_pct = 0;
  std::uint64_t bandwidth_bps = 0;  // 0 = unlimited
  bool empty() const {
    return latency_ms == 0 && jitter_ms == 0 && drop_pct == 0 && bandwidth_bps == 0;
  }
};

class Bridge {
 public:
  struct Member {
    const void* vm = nullptr;    // identity of the lab VM (names repeat across labs)
    std::string name;            // VM name, for messages and rules
    std::string mac;             // deterministic: from the bridge and VM names
    std::string address;         // IPv4 without prefix; "" = the test manages addressing
    std::string port;            // the bridge-side TAP in the namespace
    std::string guest_tap;       // local backend: the TAP that moves into the sandbox
    int qemu_fd = -1;            // QEMU: our copy of the socket end QEMU inherits
    std::shared_ptr<Pump> pump;  // carries frames between the guest end and the port
    bool connected = true;       // nic:disconnect()
  };
  /// True once the member's port exists in the namespace (its VM booted).
  static bool has_port(const Member& m) { return m.pump != nullptr; }

  /// `index` numbers the file's bridges (device `pvbr<index>`, subnet 10.213.<index>.0/24
  /// unless `subnet` names a /24 as "a.b.c.0/24").
  Bridge(std::string name, int index, std::optional<std::string> subnet);
  ~Bridge();
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  const std::string& name() const { return name_; }
  std::string device() const { return "pvbr" + std::to_string(index_); }
  std::string subnet() const { return prefix_ + ".0/24"; }
  std::string gateway() const { return prefix_ + ".1"; }

  // Graph. Names in errors are the VM names; every check runs before any state changes.
  void attach(const void* vm, const std::string& name, std::optional<std::string> address);
  void detach(const void* vm, const NetNamespace* ns);
  const std::vector<Member>& members() const { return members_; }
  Member* member(const void* vm);
  const Member* member_named(const std::string& name) const;

  std::set<std::pair<std::string, std::string>> blocked;  // (from, to) names
  bool fully_partitioned = false;
  std::vector<std::string> routes;  // bridge:route(): graph only (REFERENCE §5.13)
  bool route_warned = false;
  std::set<std::string> isolated;
  Impairment whole;
  std::map<std::pair<std::string, std::string>, Impairment> directional;  // (from, to)

  bool is_blocked(const std::string& from, const std::string& to) const;

  /// Uplink (net/uplink.hpp): TCP to the gateway address reaches the host's loopback on the same
  /// port. Applied now when realised, else at realisation.
  void set_uplink(const NetNamespace& ns, bool on, std::uint16_t proxy_port);
  bool uplink() const { return uplink_port_ != 0; }
  std::string uplink_script() const;

  // Realisation (no-ops until the first member boots).
  bool realised() const { return realised_; }
  /// Creates the bridge device in `ns` (once).
  void realise(const NetNamespace& ns);
  /// QEMU: the member's port and pump, and a fresh stream socket for this QEMU process
  /// (`-netdev socket,fd=`); returns QEMU's end.
  int realise_for_qemu(const NetNamespace& ns, Member& m);
  /// Local backend: the port, pump and a guest TAP (`guest_tap`) the caller moves into the
  /// sandbox's namespace.
  void realise_for_sandbox(const NetNamespace& ns, Member& m);
  /// Hands each member's pump its delays (whole bridge and directional latency, jitter).
  void apply_delays() const;
  /// Replaces the bridge's nft table with the current partitions in one transaction.
  void apply_rules(const NetNamespace& ns) const;
  /// Replaces every member port's root qdisc with the current impairments in one batch.
  void apply_qdiscs(const NetNamespace& ns) const;
  /// A graph change as one transaction: applies `change` to the partitions, isolation and
  /// impairments and, once realised, re-applies the rules, qdiscs and delays in `ns`. When
  /// realising fails, the graph is put back as it was (and re-applied) and std::runtime_error
  /// says "<why> (the bridge's rules are unchanged)".
  void change(const NetNamespace& ns, const std::function<void(Bridge&)>& change);
  /// Takes a member's port off the bridge (link down) or puts it back.
  void set_connected(const NetNamespace& ns, Member& m, bool connected);

  /// A whole-bridge capture: every frame a member sends is duplicated to a mirror device
  /// (returned, for tcpdump) while at least one capture is open.
  std::string start_capture(const NetNamespace& ns);
  void stop_capture(const NetNamespace& ns);
  int live_captures() const { return captures_; }

  /// The nft scripts and the tc batch the current state produces (pure; unit-tested).
  std::string nft_script() const;
  std::string mirror_script() const;
  std::string tc_batch() const;

 private:
  std::string name_;
  int index_;
  std::string prefix_;  // "10.213.3"
  std::vector<Member> members_;
  int next_host_ = 2;
  int next_port_ = 0;
  bool realised_ = false;
  int captures_ = 0;
  std::uint16_t uplink_port_ = 0;  // 0: no uplink
  void apply_uplink(const NetNamespace& ns) const;

  std::string mirror_device() const { return device() + "m"; }
  void apply_mirror(const NetNamespace& ns) const;
};

/// "52:54:00:xx:xx:xx" from a digest of (bridge, vm): stable across runs and hosts.
std::string mac_for(const std::string& bridge, const std::string& vm);

}  // namespace provium::net
