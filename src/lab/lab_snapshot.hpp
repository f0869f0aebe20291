// Lab snapshots (REFERENCE §5.12, §9.9): a directory with `lab.json` (format_version 1, paths
// relative to the directory, so it can be moved) and one snapshot file per VM; sub-lab members
// are named "sub/leaf". Every VM is paused before any is saved, so the set is consistent;
// restores are additive and roll back every VM and bridge they made when one fails. Bridges,
// their members' addresses, partitions and impairments are saved and re-created too
// (lab_snapshot_net.cpp).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "lab/session.hpp"

namespace provium::lab {

struct LabMember {
  std::string path;  // "vm" or "sub/leaf"
  VmPtr vm;
};

/// The booted or paused VMs of `lab` and its sub-labs, by lab path.
std::vector<LabMember> running_members(const Lab& lab);

/// Resumes `vm`, ignoring a failure (rollback paths resume every VM they paused).
void resume_quietly(Vm& vm);

/// Saves every running VM of the tree into `dir` (created when missing) with its lab.json.
/// On failure every VM is resumed as it was and nothing half-written stays: the files this
/// call wrote are removed, and `dir` too when this call created it. Throws Error.
void save_lab(const Lab& lab, const std::string& dir);

/// Restores the lab snapshot in `dir` into `lab` (additive). `on_new_vm` sees each VM as it
/// joins the lab (the Lua layer registers it with the current scope); every entry is checked
/// before any joins. When anything fails, every VM, bridge and sub-lab this call made is shut
/// down and removed again; throws Error.
void restore_lab(Session& s, const LabPtr& lab, const std::string& dir,
                 const std::function<void(const VmPtr&)>& on_new_vm);

}  // namespace provium::lab
