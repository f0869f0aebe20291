// Capture objects (REFERENCE §5.15): bindings over net::PacketCapture (src/net/capture.cpp).
#include "net/capture.hpp"

#include <fmt/format.h>

#include "lua/context.hpp"
#include "lua/lab_vm.hpp"
#include "lua/net_objects.hpp"
#include "lua/support.hpp"

namespace provium::lua {
namespace {

struct CaptureUd {
  std::unique_ptr<net::PacketCapture> cap;
};

net::PacketCapture& check_capture(lua_State* L, const char* what) {
  auto* u = static_cast<CaptureUd*>(luaL_testudata(L, 1, kCaptureMeta));
  if (!u) raise(L, fmt::format("{}: expected a Capture, got {}", what, type_of(L, 1)));
  return *u->cap;
}

// capture:read(timeout?) -> the bytes captured since the last read, "" when none arrived in
// time, nil once the capture has ended and everything was read.
int capture_read(lua_State* L) {
  auto& c = check_capture(L, "capture:read");
  double secs = lua_isnoneornil(L, 2) ? 1.0 : check_duration(L, 2, "capture:read: timeout");
  auto chunk = c.read(secs);
  if (!chunk) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushlstring(L, chunk->data(), chunk->size());
  return 1;
}

// capture:bytes() -> the whole pcap so far (ours).
int capture_bytes(lua_State* L) {
  std::string data = check_capture(L, "capture:bytes").bytes();
  lua_pushlstring(L, data.data(), data.size());
  return 1;
}

// capture:save(path) stops the capture and writes the whole pcap; returns the bytes written.
int capture_save(lua_State* L) {
  auto& c = check_capture(L, "capture:save");
  std::string path = luaL_checkstring(L, 2);
  std::size_t n = 0;
  call_domain(L, "capture:save", [&] { n = c.save(path); });
  lua_pushinteger(L, static_cast<lua_Integer>(n));
  return 1;
}

int capture_close(lua_State* L) {
  check_capture(L, "capture:close").stop();
  return 0;
}

int capture_gc(lua_State* L) {
  static_cast<CaptureUd*>(lua_touserdata(L, 1))->~CaptureUd();
  return 0;
}

int capture_tostring(lua_State* L) {
  lua_pushstring(L, fmt::format("Capture({})", check_capture(L, "tostring").label()).c_str());
  return 1;
}

constexpr Method kCaptureMethods[] = {
    {"read", guarded<capture_read>, "timeout?: Duration", "string|nil",
     "The pcap bytes captured since the last read (\"\" when none in time, nil once ended)."},
    {"bytes", guarded<capture_bytes>, "", "string", "The whole pcap captured so far."},
    {"save", guarded<capture_save>, "path: string", "integer",
     "Stops the capture and writes the pcap to the host file `path`; returns the bytes written."},
    {"close", guarded<capture_close>, "", "nil", "Stops the capture."},
};

}  // namespace

const TypeDecl kCaptureApi = declare_type("Capture", kCaptureMeta, kCaptureMethods);

void push_capture(lua_State* L, const std::string& device, const std::string& label,
                  std::function<void()> on_stop) {
  auto& ctx = context(L);
  std::unique_ptr<net::PacketCapture> cap;
  call_domain(L, "", [&] {
    cap = std::make_unique<net::PacketCapture>(ctx.network.ns(), device, label, std::move(on_stop));
  });
  auto* u = static_cast<CaptureUd*>(lua_newuserdatauv(L, sizeof(CaptureUd), 0));
  new (u) CaptureUd{std::move(cap)};
  luaL_setmetatable(L, kCaptureMeta);
  register_resource(L, lua_gettop(L), "stream");
}

void register_capture(lua_State* L) {
  new_meta(L, kCaptureApi, capture_gc, guarded<capture_tostring>);
}

}  // namespace provium::lua
