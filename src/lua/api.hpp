// The Lua API declared once: every named method of every Lua type is a `Method` in its binding
// file. The binding registers it from that declaration, `provium lsp-setup` writes its LuaLS
// stub from it (render_types_lua), and api_types() is the run-time catalogue of them all.
#pragma once

#include <cstddef>
#include <lua.hpp>
#include <string>
#include <vector>

namespace provium::lua {

struct Method {
  const char* name;
  lua_CFunction fn;
  /// LuaLS parameter list without self: "cmd: string|string[], opts?: table"; "" for none;
  /// "..." (or "...: T") for a variable tail.
  const char* params;
  /// The text after `---@return`: a LuaLS type ("RunResult", "string|nil", "integer", a table
  /// shape like "{ret: integer, errno: integer, out_bufs: string[]}", "any ..." for several
  /// values), or "nil" when the method returns nothing.
  const char* returns;
  const char* doc;  // one line
};

/// One binding file's methods of one Lua class. A class whose methods live in several files
/// (Lab, Vm, Bridge) has one TypeDecl per file, all with the same lua_class and meta.
struct TypeDecl {
  const char* lua_class;  // LuaLS class name: "Vm"
  const char* meta;       // registry name of the metatable: "provium.Vm"
  const Method* methods;
  std::size_t count;
};

template <std::size_t N>
constexpr TypeDecl declare_type(const char* lua_class, const char* meta,
                                const Method (&methods)[N]) {
  return TypeDecl{lua_class, meta, methods, N};
}

// Every declaration, defined next to its bindings; api_types() lists them in this order (the
// order of types.lua).
extern const TypeDecl kRunResultApi;           // objects.cpp
extern const TypeDecl kStreamApi;              // objects.cpp
extern const TypeDecl kProcessApi;             // objects.cpp
extern const TypeDecl kFileApi;                // file.cpp
extern const TypeDecl kConsoleApi;             // console.cpp
extern const TypeDecl kClockApi;               // objects.cpp
extern const TypeDecl kWorkerApi;              // worker.cpp
extern const TypeDecl kPendingSyscallApi;      // worker.cpp
extern const TypeDecl kAsyncSyscallApi;        // guest_raw.cpp
extern const TypeDecl kSnapshotApi;            // snapshot.cpp
extern const TypeDecl kLabSnapshotApi;         // lab_snapshot.cpp
extern const TypeDecl kCaptureApi;             // capture.cpp
extern const TypeDecl kNicApi;                 // nic.cpp
extern const TypeDecl kBridgeApi;              // bridge.cpp
extern const TypeDecl kBridgeFaultsApi;        // bridge_faults.cpp
extern const TypeDecl kBatchApi;               // batch.cpp
extern const TypeDecl kVmApi;                  // vm.cpp
extern const TypeDecl kVmGuestApi;             // guest.cpp
extern const TypeDecl kVmObjectsApi;           // objects.cpp
extern const TypeDecl kVmFileApi;              // file.cpp
extern const TypeDecl kVmBatchApi;             // batch.cpp
extern const TypeDecl kVmWorkerApi;            // worker.cpp
extern const TypeDecl kVmLifecycleApi;         // snapshot.cpp
extern const TypeDecl kVmConsoleApi;           // console.cpp
extern const TypeDecl kVmRawApi;               // guest_raw.cpp
extern const TypeDecl kVmNicApi;               // nic.cpp
extern const TypeDecl kLabApi;                 // lab.cpp
extern const TypeDecl kLabBridgeApi;           // bridge.cpp
extern const TypeDecl kLabSnapshotRestoreApi;  // lab_snapshot.cpp
extern const TypeDecl kLabFixtureApi;          // fixture.cpp

/// Every declared part of every Lua type.
const std::vector<const TypeDecl*>& api_types();

/// Sets each declared method of `t` into the table at `table_idx`. With `wrap`, each is
/// registered as a closure of `wrap` whose first upvalue is the method's function.
void register_methods(lua_State* L, const TypeDecl& t, int table_idx, lua_CFunction wrap = nullptr);

/// One parameter of Method::params.
struct Param {
  std::string name;  // "..." for a variable tail
  std::string type;  // "" when not given (only for "...")
  bool optional = false;
};
/// Splits a params string; throws std::invalid_argument naming the bad entry.
std::vector<Param> parse_params(const std::string& params);

/// The whole types.lua: the hand-written header (types_header.lua) then one section per class
/// with a stub per declared method. A class the header already opens (`local X = {}`, to give it
/// fields) gets only its methods.
std::string render_types_lua();

}  // namespace provium::lua
