// Shared between the Lab and Vm binding files: metatable names, pushers, option readers.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "events/meta_value.hpp"
#include "lab/lab.hpp"
#include "vmm/backend.hpp"

struct lua_State;

namespace provium::lua {

inline constexpr const char* kLabMeta = "provium.Lab";
inline constexpr const char* kVmMeta = "provium.Vm";

void push_lab(lua_State* L, const std::shared_ptr<lab::Lab>& lab);
void push_vm(lua_State* L, const std::shared_ptr<lab::Vm>& vm);

struct VmSizing {
  std::uint64_t memory;
  std::uint32_t cpus;
};

/// Reads `memory` (size) and `cpus` (positive integer) from the table at idx (may be nil),
/// starting from `defaults`. Raises naming `what` and the key on bad values.
VmSizing read_sizing(lua_State* L, int idx, const char* what, VmSizing defaults);
/// Every key of the options table except memory/cpus, converted (nil -> empty).
events::MetaMap read_options(lua_State* L, int idx);

/// Calls `_provium_register_resource(ud, kind)` so the current scope closes it.
void register_resource(lua_State* L, int idx, const char* kind);

/// Boots one VM with the boot options table at `opts_idx` (0 = none). Raises on failure.
void boot_vm(lua_State* L, const std::shared_ptr<lab::Vm>& vm, int opts_idx);
/// The merged creation + boot options of a VM (boot table at `opts_idx`, 0 = none).
vmm::BootRequest make_boot_request(lua_State* L, const std::shared_ptr<lab::Vm>& vm, int opts_idx,
                                   const char* what);

/// What vm:snapshot() returned: where it is and the VM it came from.
struct SnapshotInfo {
  std::string path;
  std::string profile;
  std::uint64_t memory = 0;
  std::uint32_t cpus = 1;
};
/// The Snapshot at `idx`, or nullopt when the value is something else.
std::optional<SnapshotInfo> snapshot_at(lua_State* L, int idx);
/// The directory of the LabSnapshot at `idx`, or nullopt when the value is something else.
std::optional<std::string> lab_snapshot_at(lua_State* L, int idx);
/// lab::restore_lab with each new VM registered with the current scope. Returns the error
/// text, "" on success.
std::string restore_lab_dir(lua_State* L, const std::shared_ptr<lab::Lab>& lab,
                            const std::string& dir);
/// Removes a transient snapshot (a file or a lab snapshot's directory) and tells the janitor.
void drop_transient(const std::string& path);
/// snapshot.cpp: vm:snapshot/restore/reset/power_button/wakeup and the Snapshot object.
void register_vm_lifecycle(lua_State* L, int methods_idx);
/// Raises, listing each live stream of `vm` as `kind("detail") at file:line`: a snapshot would
/// cut them off mid-flight.
void refuse_live_streams(lua_State* L, lab::Vm& vm, const std::string& shown_name,
                         const char* what);
/// lab_snapshot.cpp: lab:snapshot / lab:restore and the LabSnapshot object.
void register_lab_snapshot(lua_State* L, int methods_idx);
/// fixture.cpp: lab:vm_fixture / lab:lab_fixture.
void register_lab_fixtures(lua_State* L, int methods_idx);
/// console.cpp: vm:console() and the Console object.
void register_console(lua_State* L, int methods_idx);
void shutdown_vm(lua_State* L, const std::shared_ptr<lab::Vm>& vm);
/// Lua C function (upvalue 1: light userdata lab::ResetBaseline*): saves every running VM of
/// the file; raises (listing each stream) when a file-scope stream is open.
int take_reset_baseline(lua_State* L);

}  // namespace provium::lua
