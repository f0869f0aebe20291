// Shared by the networking binding files (bridge.cpp, nic.cpp, capture.cpp, net_attach.cpp):
// the Bridge and NIC userdata and the boot-time wiring of a VM's NICs (REFERENCE §5.13–5.15,
// §9).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "lab/lab.hpp"
#include "net/bridge.hpp"
#include "vmm/backend.hpp"

struct lua_State;

namespace provium::lua {

struct FileContext;

inline constexpr const char* kBridgeMeta = "provium.Bridge";
inline constexpr const char* kNicMeta = "provium.Nic";
inline constexpr const char* kCaptureMeta = "provium.Capture";

struct BridgeUd {
  std::shared_ptr<net::Bridge> bridge;
  std::weak_ptr<lab::Lab> lab;  // where bare VM names are looked up
  bool closed = false;
};

struct NicUd {
  std::shared_ptr<net::Bridge> bridge;
  std::weak_ptr<lab::Vm> vm;
  std::string vm_name;
};

void push_bridge(lua_State* L, const std::shared_ptr<net::Bridge>& b,
                 const std::shared_ptr<lab::Lab>& lab);
BridgeUd& check_bridge(lua_State* L, int idx, const char* what);
void push_nic(lua_State* L, std::shared_ptr<net::Bridge> b, const std::shared_ptr<lab::Vm>& vm);

/// Starts tcpdump on `device` in the file's namespace and pushes a Capture (registered as a
/// stream of the current scope). Raises with the reason (tcpdump missing, no such device).
/// `on_stop` runs once when the capture stops (save, close, scope end, GC).
void push_capture(lua_State* L, const std::string& device, const std::string& label,
                  std::function<void()> on_stop = nullptr);

/// Before a boot or restore: realises the VM's bridges and ports and fills `req.nics`.
void prepare_nics(FileContext& ctx, const std::shared_ptr<lab::Vm>& vm, vmm::BootRequest& req);
/// After a cold boot: moves local veth ends into the sandbox and gives every NIC its address
/// (through the agent). Throws std::runtime_error with the guest's own error.
void configure_guest_nics(lua_State* L, const std::shared_ptr<lab::Vm>& vm);
/// After a local sandbox was reset (its network namespace is new): new ports and TAPs for
/// each of the VM's bridges, configured as at boot. Nothing for QEMU guests.
void rewire_sandbox_nics(lua_State* L, const std::shared_ptr<lab::Vm>& vm);

void register_bridge(lua_State* L);                        // the Bridge metatable
void register_lab_bridges(lua_State* L, int lab_methods);  // lab:bridge, lab:bridge_names
void register_nic(lua_State* L, int vm_methods);           // the Nic metatable, vm:nic
void register_capture(lua_State* L);                       // the Capture metatable

}  // namespace provium::lua
