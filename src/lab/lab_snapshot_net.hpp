// Bridges in lab snapshots (lab_snapshot_net.cpp).
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lab/session.hpp"

namespace provium::lab {

/// Throws Error when a bridge of the tree has an open capture (a snapshot would not be
/// consistent).
void refuse_live_captures(const Lab& lab);
/// The `bridges` array of lab.json; members are named by the lab paths in `vm_paths`.
nlohmann::json bridges_json(const Lab& lab, const std::map<const void*, std::string>& vm_paths);
/// Re-creates the bridges of `doc` under `lab`, attached to the restored VMs (by lab path),
/// with their addresses, partitions and impairments; nothing is realised yet (the VMs' restore
/// does that). Throws std::runtime_error, leaving no bridge behind.
using MadeBridges = std::vector<std::pair<LabPtr, std::shared_ptr<net::Bridge>>>;
MadeBridges restore_bridges(Session& s, const LabPtr& lab, const nlohmann::json& doc,
                            const std::map<std::string, VmPtr>& vms_by_path);

}  // namespace provium::lab
