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

void register_bridge(lua_State* L);                        // the Bridge metatable
void register_lab_bridges(lua_State* L, int lab_methods);  // lab:bridge, lab:bridge_names
void register_nic(lua_State* L, int vm_methods);           // the Nic metatable, vm:nic
void register_capture(lua_State* L);                       // the Capture metatable

}  // namespace provium::lua
