// The `bridges` section of lab.json (REFERENCE §9.9): every bridge of the saved lab tree with
// its subnet, members (by lab path, with their addresses), partitions, isolation and
// impairments; restoring re-creates them before the VMs come back, so restored guests keep
// their addresses and MACs and talk to each other again without reconfiguration.
#include "lab/lab_snapshot_net.hpp"

#include <fmt/format.h>

#include <map>
#include <stdexcept>

namespace provium::lab {

namespace {

nlohmann::json impairment_json(const net::Impairment& i) {
  return {{"latency_ms", i.latency_ms},
          {"jitter_ms", i.jitter_ms},
          {"drop_rate_pct", i.drop_pct},
          {"bandwidth_bps", i.bandwidth_bps}};
}

net::Impairment impairment_from(const nlohmann::json& j) {
  net::Impairment i;
  i.latency_ms = j.value("latency_ms", 0.0);
  i.jitter_ms = j.value("jitter_ms", 0.0);
  i.drop_pct = j.value("drop_rate_pct", 0.0);
  i.bandwidth_bps = j.value("bandwidth_bps", std::uint64_t{0});
  return i;
}

void collect_bridges(const Lab& l, const std::string& prefix,
                     std::vector<std::pair<std::string, std::shared_ptr<net::Bridge>>>& out) {
  for (auto& [name, b] : l.bridges()) out.push_back({prefix + name, b});
  for (auto& sub : l.sub_labs()) collect_bridges(*sub, prefix + sub->name() + "/", out);
}

}  // namespace

void refuse_live_captures(const Lab& lab) {
  std::vector<std::pair<std::string, std::shared_ptr<net::Bridge>>> bridges;
  collect_bridges(lab, "", bridges);
  for (auto& [path, b] : bridges)
    if (b->live_captures() > 0)
      throw Error(
          fmt::format("bridge `{}` has {} open capture(s); close them first "
                      "(capture:close() or capture:save())",
                      path, b->live_captures()));
}

nlohmann::json bridges_json(const Lab& lab, const std::map<const void*, std::string>& vm_paths) {
  std::vector<std::pair<std::string, std::shared_ptr<net::Bridge>>> bridges;
  collect_bridges(lab, "", bridges);
  nlohmann::json out = nlohmann::json::array();
  for (auto& [path, b] : bridges) {
    nlohmann::json members = nlohmann::json::array();
    for (auto& m : b->members()) {
      auto it = vm_paths.find(m.vm);
      if (it == vm_paths.end()) continue;  // a VM outside the saved tree (or not running)
      members.push_back({{"vm", it->second}, {"name", m.name}, {"address", m.address}});
    }
    nlohmann::json partitions = nlohmann::json::array();
    for (auto& [from, to] : b->blocked) partitions.push_back({from, to});
    nlohmann::json dirs = nlohmann::json::array();
    for (auto& [k, imp] : b->directional) {
      auto j = impairment_json(imp);
      j["from"] = k.first;
      j["to"] = k.second;
      dirs.push_back(j);
    }
    auto whole = impairment_json(b->whole);
    out.push_back({{"name", path},
                   {"subnet", b->subnet()},
                   {"members", members},
                   {"latency_ms", whole["latency_ms"]},
                   {"jitter_ms", whole["jitter_ms"]},
                   {"drop_rate_pct", whole["drop_rate_pct"]},
                   {"bandwidth_bps", whole["bandwidth_bps"]},
                   {"uplink", b->uplink()},
                   {"routes", b->routes},
                   {"isolated", b->isolated},
                   {"partitions", partitions},
                   {"directional_impairments", dirs},
                   {"fully_partitioned", b->fully_partitioned}});
  }
  return out;
}

MadeBridges restore_bridges(Session& s, const LabPtr& lab, const nlohmann::json& doc,
                            const std::map<std::string, VmPtr>& vms_by_path) {
  MadeBridges made;
  auto undo = [&] {
    for (auto& [owner, b] : made) owner->remove_bridge(b->name());
  };
  try {
    for (auto& jb : doc.value("bridges", nlohmann::json::array())) {
      std::string path = jb.value("name", "");
      if (path.empty()) throw Error("a bridge entry lacks its name");
      // "sub/leaf": the bridge belongs to the sub-lab, created by the VM entries or here.
      auto owner = lab;
      std::string leaf = path;
      for (auto slash = leaf.find('/'); slash != std::string::npos; slash = leaf.find('/')) {
        std::string sub = leaf.substr(0, slash);
        auto next = owner->find_sub_lab(sub);
        owner = next ? next : owner->add_sub_lab(sub);
        leaf = leaf.substr(slash + 1);
      }
      if (owner->bridges().count(leaf))
        throw Error(
            fmt::format("a bridge named `{}` already exists in lab `{}`", leaf, owner->name()));
      auto b = s.network.create_bridge(leaf, jb.value("subnet", std::string()));
      owner->add_bridge(b);
      made.push_back({owner, b});
      for (auto& jm : jb.value("members", nlohmann::json::array())) {
        auto it = vms_by_path.find(jm.value("vm", ""));
        if (it == vms_by_path.end())
          throw Error(fmt::format("bridge `{}`: member `{}` is not in the snapshot", path,
                                  jm.value("vm", "")));
        b->attach(it->second.get(), it->second->name(), jm.value("address", std::string()));
      }
      for (auto& p : jb.value("partitions", nlohmann::json::array()))
        b->blocked.insert({p.at(0).get<std::string>(), p.at(1).get<std::string>()});
      for (auto& i : jb.value("isolated", nlohmann::json::array()))
        b->isolated.insert(i.get<std::string>());
      b->fully_partitioned = jb.value("fully_partitioned", false);
      b->routes = jb.value("routes", std::vector<std::string>{});
      b->whole = impairment_from(jb);
      for (auto& d : jb.value("directional_impairments", nlohmann::json::array()))
        b->directional[{d.value("from", ""), d.value("to", "")}] = impairment_from(d);
      if (jb.value("uplink", false)) b->set_uplink(s.network.ns(), true, s.network.uplink().port());
    }
  } catch (...) {
    undo();
    throw;
  }
  return made;
}

}  // namespace provium::lab
