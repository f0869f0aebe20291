// The networks of one test file: its network namespace (created when the first bridge is
// realised) and every bridge of its labs, so a VM's NICs can be found from the VM.
#pragma once

#include <algorithm>
#include <memory>
#include <optional>
#include <vector>

#include "net/bridge.hpp"
#include "net/netns.hpp"
#include "net/uplink.hpp"

namespace provium::net {

class FileNetwork {
 public:
  const NetNamespace& ns() {
    if (!ns_) ns_ = std::make_unique<NetNamespace>();
    return *ns_;
  }
  bool has_ns() const { return ns_ != nullptr; }
  /// The file's uplink relay (started by the first enable_uplink()).
  UplinkProxy& uplink() {
    if (!uplink_) uplink_ = std::make_unique<UplinkProxy>(ns());
    return *uplink_;
  }

  std::shared_ptr<Bridge> create_bridge(const std::string& name,
                                        std::optional<std::string> subnet) {
    auto b = std::make_shared<Bridge>(name, next_index_, std::move(subnet));
    ++next_index_;
    all_.push_back(b);
    return b;
  }

  /// The live bridges `vm` is attached to, sorted by bridge name (guest NIC order: eth0, ...).
  std::vector<std::shared_ptr<Bridge>> bridges_of(const void* vm) const {
    std::vector<std::shared_ptr<Bridge>> out;
    for (auto& w : all_)
      if (auto b = w.lock(); b && b->member(vm)) out.push_back(b);
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a->name() < b->name(); });
    return out;
  }

 private:
  std::unique_ptr<NetNamespace> ns_;
  std::unique_ptr<UplinkProxy> uplink_;  // after ns_: stops before the namespace goes
  std::vector<std::weak_ptr<Bridge>> all_;
  int next_index_ = 0;
};

}  // namespace provium::net
