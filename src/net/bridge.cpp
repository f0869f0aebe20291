#include "net/bridge.hpp"

#include <fmt/format.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <regex>
#include <stdexcept>

#include "util/sha256.hpp"

namespace provium::net {
namespace {

// The impairment of a path that crosses `a` and then `b` (whole bridge + directional).
Impairment combine(const Impairment& a, const Impairment& b) {
  Impairment c;
  c.latency_ms = a.latency_ms + b.latency_ms;
  c.drop_pct = 100.0 * (1.0 - (1.0 - a.drop_pct / 100.0) * (1.0 - b.drop_pct / 100.0));
  if (a.bandwidth_bps && b.bandwidth_bps)
    c.bandwidth_bps = std::min(a.bandwidth_bps, b.bandwidth_bps);
  else
    c.bandwidth_bps = a.bandwidth_bps ? a.bandwidth_bps : b.bandwidth_bps;
  return c;
}

// A tc u32 match on the Ethernet source address: the network header starts after the 14-byte
// Ethernet header, so the source MAC sits at offsets -8 (4 bytes) and -4 (2 bytes).
std::string u32_src_mac(const std::string& mac) {
  std::string hex;
  for (char c : mac)
    if (c != ':') hex += c;
  return fmt::format("u32 match u32 0x{} 0xffffffff at -8 match u16 0x{} 0xffff at -4",
                     hex.substr(0, 8), hex.substr(8, 4));
}

// Only bandwidth needs a qdisc: loss is an nft rule, delay happens in the pump.
bool needs_qdisc(const Impairment& i) { return i.bandwidth_bps > 0; }

std::string htb_rate(std::uint64_t bps) {
  if (bps == 0) return "rate 10gbit ceil 10gbit";
  std::uint64_t burst = std::max<std::uint64_t>(bps / 800, 1500);
  return fmt::format("rate {0}bit ceil {0}bit burst {1}b cburst {1}b", bps, burst);
}

}  // namespace

std::string mac_for(const std::string& bridge, const std::string& vm) {
  std::string h = util::sha256_hex(bridge + "\n" + vm);
  return fmt::format("52:54:00:{}:{}:{}", h.substr(0, 2), h.substr(2, 2), h.substr(4, 2));
}

Bridge::Bridge(std::string name, int index, std::optional<std::string> subnet)
    : name_(std::move(name)), index_(index) {
  if (subnet) {
    static const std::regex re(R"((\d{1,3})\.(\d{1,3})\.(\d{1,3})\.0/24)");
    std::smatch m;
    if (!std::regex_match(*subnet, m, re) || std::stoi(m[1]) > 255 || std::stoi(m[2]) > 255 ||
        std::stoi(m[3]) > 255)
      throw std::runtime_error(fmt::format(
          "subnet `{}` is not an IPv4 /24 such as \"10.0.0.0/24\" (only /24 subnets are supported)",
          *subnet));
    prefix_ = fmt::format("{}.{}.{}", m[1].str(), m[2].str(), m[3].str());
  } else {
    prefix_ = fmt::format("10.213.{}", index_);
  }
}

Bridge::~Bridge() {
  for (auto& m : members_)
    if (m.qemu_fd >= 0) ::close(m.qemu_fd);
}

void Bridge::attach(const void* vm, const std::string& name, std::optional<std::string> address) {
  for (auto& m : members_) {
    if (m.vm == vm) throw std::runtime_error(fmt::format("vm `{}` is already attached", name));
    if (m.name == name)
      throw std::runtime_error(fmt::format("another vm named `{}` is already attached", name));
  }
  Member m;
  m.vm = vm;
  m.name = name;
  // From the names only, so a restored copy of a lab (another file, another bridge index) has
  // the MACs its guests' saved devices and neighbour caches expect.
  m.mac = mac_for(name_, name);
  if (!address) {
    if (next_host_ > 254) throw std::runtime_error(fmt::format("subnet {} is full", subnet()));
    m.address = fmt::format("{}.{}", prefix_, next_host_++);
  } else {
    m.address = *address;
    if (!m.address.empty()) {
      static const std::regex re(R"((\d{1,3}\.\d{1,3}\.\d{1,3})\.(\d{1,3}))");
      std::smatch sm;
      if (!std::regex_match(m.address, sm, re) || sm[1].str() != prefix_ || std::stoi(sm[2]) < 2 ||
          std::stoi(sm[2]) > 254)
        throw std::runtime_error(fmt::format(
            "address `{}` is not a host address of the bridge's subnet {} (.2 to .254; .1 is the "
            "gateway)",
            m.address, subnet()));
      for (auto& o : members_)
        if (o.address == m.address)
          throw std::runtime_error(
              fmt::format("address {} is already used by vm `{}`", m.address, o.name));
    }
  }
  m.port = fmt::format("pvt{}p{}", index_, next_port_++);
  members_.push_back(std::move(m));
}

Bridge::Member* Bridge::member(const void* vm) {
  for (auto& m : members_)
    if (m.vm == vm) return &m;
  return nullptr;
}

const Bridge::Member* Bridge::member_named(const std::string& name) const {
  for (auto& m : members_)
    if (m.name == name) return &m;
  return nullptr;
}

void Bridge::detach(const void* vm, const NetNamespace* ns) {
  auto it = std::find_if(members_.begin(), members_.end(), [&](auto& m) { return m.vm == vm; });
  if (it == members_.end()) return;
  std::string name = it->name;
  if (it->qemu_fd >= 0) ::close(it->qemu_fd);
  it->pump.reset();  // closes both TAPs: a device goes with its last descriptor
  members_.erase(it);
  std::erase_if(blocked, [&](auto& p) { return p.first == name || p.second == name; });
  std::erase_if(directional,
                [&](auto& p) { return p.first.first == name || p.first.second == name; });
  isolated.erase(name);
  if (ns && realised_) {
    apply_rules(*ns);
    apply_qdiscs(*ns);
  }
  apply_delays();
}

bool Bridge::is_blocked(const std::string& from, const std::string& to) const {
  return fully_partitioned || blocked.count({from, to}) || isolated.count(from) ||
         isolated.count(to);
}

void Bridge::realise(const NetNamespace& ns) {
  if (realised_) return;
  // STP off (the default) and no forwarding delay: ports forward as soon as they are up.
  ns.check({"ip", "link", "add", "name", device(), "type", "bridge", "forward_delay", "0"}, "",
           fmt::format("bridge `{}`", name_));
  ns.check({"ip", "link", "set", device(), "up"}, "", fmt::format("bridge `{}`", name_));
  realised_ = true;
  apply_rules(ns);
  if (uplink_port_) apply_uplink(ns);
}

// The member's port: a TAP in the namespace, enslaved, with a host-side MAC of its own (the
// guest's MAC with a locally administered first byte) so the bridge never sees two owners.
static int open_port(const NetNamespace& ns, const Bridge::Member& m, const std::string& bridge_dev,
                     const std::string& bridge_name) {
  int fd = ns.open_tap(m.port);
  try {
    ns.check({"ip", "-batch", "-"},
             fmt::format("link set {0} address fe:{1} master {2}\nlink set {0} up\n", m.port,
                         m.mac.substr(3), bridge_dev),
             fmt::format("bridge `{}`: vm `{}`", bridge_name, m.name));
  } catch (...) {
    ::close(fd);
    throw;
  }
  return fd;
}

int Bridge::realise_for_qemu(const NetNamespace& ns, Member& m) {
  realise(ns);
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    throw std::runtime_error(fmt::format("socketpair: {}", std::strerror(errno)));
  if (!m.pump) {
    int port;
    try {
      port = open_port(ns, m, device(), name_);
    } catch (...) {
      ::close(sv[0]);
      ::close(sv[1]);
      throw;
    }
    m.pump = std::make_shared<Pump>(port, sv[0], Pump::GuestEnd::Stream);
    apply_rules(ns);
    apply_qdiscs(ns);
    apply_delays();
    if (captures_ > 0) apply_mirror(ns);
  } else {
    m.pump->replace_guest(sv[0]);  // a restore: the new QEMU gets a fresh connection
  }
  if (m.qemu_fd >= 0) ::close(m.qemu_fd);
  m.qemu_fd = sv[1];
  m.pump->set_connected(m.connected);
  return m.qemu_fd;
}

void Bridge::realise_for_sandbox(const NetNamespace& ns, Member& m) {
  realise(ns);
  if (m.pump)
    throw std::runtime_error(
        fmt::format("vm `{}` already has a port on bridge `{}`", m.name, name_));
  int port = open_port(ns, m, device(), name_);
  m.guest_tap = m.port + "g";
  int guest;
  try {
    guest = ns.open_tap(m.guest_tap);
    ns.check({"ip", "link", "set", m.guest_tap, "address", m.mac}, "",
             fmt::format("bridge `{}`: vm `{}`", name_, m.name));
  } catch (...) {
    ::close(port);
    throw;
  }
  m.pump = std::make_shared<Pump>(port, guest, Pump::GuestEnd::Frames);
  apply_rules(ns);
  apply_qdiscs(ns);
  apply_delays();
  if (captures_ > 0) apply_mirror(ns);
}

void Bridge::change(const NetNamespace& ns, const std::function<void(Bridge&)>& f) {
  auto before = std::tie(blocked, fully_partitioned, isolated, whole, directional);
  auto saved = std::make_tuple(blocked, fully_partitioned, isolated, whole, directional);
  f(*this);
  if (!realised_) return;
  auto apply = [&] {
    apply_rules(ns);
    apply_qdiscs(ns);
    apply_delays();
  };
  try {
    apply();
  } catch (const std::exception& e) {
    std::string why = e.what();
    before = saved;
    try {
      apply();
    } catch (const std::exception&) {
      // The previous state was realised before; a second failure leaves what the kernel has.
    }
    throw std::runtime_error(why + " (the bridge's rules are unchanged)");
  }
}

void Bridge::apply_delays() const {
  for (auto& m : members_) {
    if (!m.pump) continue;
    Delay all{whole.latency_ms, whole.jitter_ms};
    std::map<Mac, Delay> by_source;
    for (auto& [k, imp] : directional)
      if (k.second == m.name && (imp.latency_ms > 0 || imp.jitter_ms > 0))
        if (auto* from = member_named(k.first))
          by_source[parse_mac(from->mac)] = {whole.latency_ms + imp.latency_ms,
                                             std::max(whole.jitter_ms, imp.jitter_ms)};
    m.pump->set_delays(all, std::move(by_source));
  }
}

void Bridge::set_connected(const NetNamespace& ns, Member& m, bool connected) {
  (void)ns;
  if (m.pump) m.pump->set_connected(connected);
  m.connected = connected;
}

std::string Bridge::uplink_script() const {
  std::string table = fmt::format("provium_uplink_{}", device());
  std::string body;
  if (uplink_port_)
    body = fmt::format(
        "  chain pre {{\n    type nat hook prerouting priority dstnat; policy accept;\n"
        "    iifname \"{}\" ip daddr {} meta l4proto tcp redirect to :{}\n  }}\n",
        device(), gateway(), uplink_port_);
  return fmt::format("table ip {0}\ndelete table ip {0}\ntable ip {0} {{\n{1}}}\n", table, body);
}

void Bridge::apply_uplink(const NetNamespace& ns) const {
  if (!realised_) return;
  std::string what = fmt::format("bridge `{}`: uplink", name_);
  if (uplink_port_)
    ns.check({"ip", "addr", "replace", gateway() + "/24", "dev", device()}, "", what);
  else
    ns.run({"ip", "addr", "del", gateway() + "/24", "dev", device()});
  ns.check({"nft", "-f", "-"}, uplink_script(), what);
}

void Bridge::set_uplink(const NetNamespace& ns, bool on, std::uint16_t proxy_port) {
  auto before = uplink_port_;
  uplink_port_ = on ? proxy_port : 0;
  try {
    apply_uplink(ns);
  } catch (...) {
    uplink_port_ = before;
    throw;
  }
}

std::string Bridge::mirror_script() const {
  // A netdev ingress chain per port duplicates every frame a guest sends to the mirror veth,
  // where tcpdump listens: one copy per frame, before the bridge decides anything.
  std::string table = fmt::format("provium_{}_cap", device());
  std::string chains;
  if (captures_ > 0)
    for (auto& m : members_)
      if (has_port(m))
        chains += fmt::format(
            "  chain in_{0} {{\n    type filter hook ingress device \"{0}\" priority 0;\n"
            "    dup to \"{1}\"\n  }}\n",
            m.port, mirror_device());
  return fmt::format("table netdev {0}\ndelete table netdev {0}\ntable netdev {0} {{\n{1}}}\n",
                     table, chains);
}

void Bridge::apply_mirror(const NetNamespace& ns) const {
  if (!realised_) return;
  ns.check({"nft", "-f", "-"}, mirror_script(), fmt::format("bridge `{}`: capture", name_));
}

std::string Bridge::start_capture(const NetNamespace& ns) {
  if (captures_++ == 0) {
    auto r = ns.run({"ip", "link", "show", mirror_device()});
    if (!r.ok())
      ns.check(
          {"ip", "-batch", "-"},
          fmt::format("link add {0} type veth peer name {0}p\nlink set {0} up\nlink set {0}p up\n",
                      mirror_device()),
          fmt::format("bridge `{}`: capture", name_));
  }
  try {
    apply_mirror(ns);
  } catch (...) {
    --captures_;
    throw;
  }
  return mirror_device();
}

void Bridge::stop_capture(const NetNamespace& ns) {
  if (captures_ == 0) return;
  if (--captures_ > 0) return;
  ns.run({"nft", "delete", "table", "netdev", fmt::format("provium_{}_cap", device())});
  ns.run({"ip", "link", "del", mirror_device()});
}

std::string Bridge::nft_script() const {
  std::string table = fmt::format("provium_{}", device());
  std::string rules;
  for (auto& a : members_)
    for (auto& b : members_) {
      if (a.vm == b.vm) continue;
      if (is_blocked(a.name, b.name)) {
        rules += fmt::format("    iifname \"{}\" oifname \"{}\" drop\n", a.port, b.port);
        continue;
      }
      // Loss per path (whole bridge, then directional): a random draw per frame, in steps of
      // 0.01 %, so each direction loses what it names and nothing else.
      Impairment path = whole;
      if (auto it = directional.find({a.name, b.name}); it != directional.end())
        path = combine(whole, it->second);
      if (path.drop_pct > 0)
        rules +=
            fmt::format("    iifname \"{}\" oifname \"{}\" numgen random mod 10000 < {} drop\n",
                        a.port, b.port, static_cast<int>(path.drop_pct * 100 + 0.5));
    }
  // Declare, delete, re-create: one transaction, so the old rules stay until the new ones are in.
  return fmt::format(
      "table bridge {0}\ndelete table bridge {0}\ntable bridge {0} {{\n  chain forward {{\n"
      "    type filter hook forward priority 0; policy accept;\n{1}  }}\n}}\n",
      table, rules);
}

void Bridge::apply_rules(const NetNamespace& ns) const {
  if (!realised_) return;
  ns.check({"nft", "-f", "-"}, nft_script(), fmt::format("bridge `{}`: partitions", name_));
}

std::string Bridge::tc_batch() const {
  std::string out;
  for (auto& m : members_) {
    if (!has_port(m)) continue;
    std::vector<std::pair<const Member*, Impairment>> dirs;
    for (auto& [k, imp] : directional)
      if (k.second == m.name && needs_qdisc(imp))
        if (auto* from = member_named(k.first)) dirs.push_back({from, combine(whole, imp)});
    if (!needs_qdisc(whole) && dirs.empty()) continue;  // the default qdisc (deleted first) stays
    out += fmt::format("qdisc add dev {} root handle 1: htb default 1\n", m.port);
    out += fmt::format("class add dev {} parent 1: classid 1:1 htb {}\n", m.port,
                       htb_rate(whole.bandwidth_bps));
    int k = 0;
    for (auto& [from, imp] : dirs) {
      int cls = 10 + k++;
      out += fmt::format("class add dev {} parent 1: classid 1:{} htb {}\n", m.port, cls,
                         htb_rate(imp.bandwidth_bps));
      // Frames towards this guest from `from` carry its MAC as source.
      out += fmt::format("filter add dev {} parent 1: protocol all prio 1 {} classid 1:{}\n",
                         m.port, u32_src_mac(from->mac), cls);
    }
  }
  return out;
}

void Bridge::apply_qdiscs(const NetNamespace& ns) const {
  if (!realised_) return;
  std::string del;
  for (auto& m : members_)
    if (has_port(m)) del += fmt::format("qdisc del dev {} root\n", m.port);
  // Ports without a qdisc of ours make `del` fail: -force goes on past those lines.
  if (!del.empty()) ns.run({"tc", "-force", "-batch", "-"}, del);
  std::string add = tc_batch();
  if (add.empty()) return;
  ns.check({"tc", "-batch", "-"}, add, fmt::format("bridge `{}`: bandwidth", name_));
}

}  // namespace provium::net
