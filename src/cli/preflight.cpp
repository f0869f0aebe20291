#include "cli/preflight.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <fstream>
#include <stdexcept>

#include "util/host.hpp"
#include "vmm/qemu/host_caps.hpp"

namespace provium::cli {

namespace {

bool has_cap_net_admin() {
  if (::geteuid() == 0) return true;
  std::ifstream in("/proc/self/status");
  std::string key, value;
  while (in >> key) {
    std::getline(in, value);
    if (key == "CapEff:") return (std::stoull(value, nullptr, 16) >> 12) & 1;
  }
  return false;
}

}  // namespace

std::optional<std::string> preflight(const Options& o) {
  if (o.no_preflight || o.vmm != "qemu") return std::nullopt;
  try {
    vmm::qemu::choose_accel(o.accel == "kvm" ? "kvm" : "tcg");  // only a required KVM can fail here
    if (o.transport == "vsock") vmm::qemu::choose_transport("vsock");
  } catch (const std::exception& e) {
    return fmt::format("provium: preflight: {}", e.what());
  }
  struct Tool {
    const char *name, *fix;
  };
  static const Tool tools[] = {
      {"ip", "install iproute2 (apt-get install iproute2)"},
      {"tc", "install iproute2 (apt-get install iproute2)"},
      {"nft", "install nftables (apt-get install nftables)"},
      {"qemu-system-x86_64", "install QEMU (apt-get install qemu-system-x86)"}};
  for (auto& t : tools)
    if (util::find_on_path(t.name).empty())
      return fmt::format("provium: preflight: `{}` not found on PATH; {} (or pass --no-preflight)",
                         t.name, t.fix);
  if (!has_cap_net_admin())
    return "provium: preflight: CAP_NET_ADMIN is needed for guest networks; run as root or "
           "`setcap cap_net_admin,cap_net_raw=eip $(which provium)` (or pass --no-preflight)";
  return std::nullopt;
}

}  // namespace provium::cli
