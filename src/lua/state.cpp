#include "lua/state.hpp"

#include <fmt/format.h>
#include <prelude_lua.hpp>

#include <cstdio>
#include <stdexcept>

#include "lua/bindings.hpp"
#include "lua/net_objects.hpp"
#include "lua/guest.hpp"
#include "lua/lab_vm.hpp"
#include "lua/standins.hpp"
#include "lua/support.hpp"
#include "util/text.hpp"

namespace provium::lua {
namespace {

constexpr const char* kPreludeChunk = "=[provium]";
constexpr int kHookEveryInstructions = 1000;

// Count hook: once the watchdog (or Ctrl-C) raised an interrupt, every hook raises it again
// until the body unwinds, so a pcall in the test cannot swallow a timeout.
void interrupt_hook(lua_State* L, lua_Debug*) {
  auto& ctx = context(L);
  if (!ctx.interrupt || !ctx.interrupt->pending()) return;
  // From now on fire before every instruction: a loop that keeps re-entering a pcall must hit
  // the hook in its own frame, between two calls, where no pcall can catch it.
  lua_sethook(L, interrupt_hook, LUA_MASKCOUNT, 1);
  std::string msg = ctx.interrupt->message();
  lua_pushlstring(L, msg.data(), msg.size());
  lua_error(L);
}

// Message handler: string errors get a traceback (kept apart so callers can decide); the skip
// sentinel and other values pass through untouched.
int traceback_handler(lua_State* L) {
  if (lua_type(L, 1) == LUA_TSTRING || lua_type(L, 1) == LUA_TNUMBER) {
    luaL_traceback(L, L, nullptr, 1);
    lua_pushstring(L, "\x1ftraceback:");
    lua_rotate(L, -2, 1);
    lua_concat(L, 2);  // "\x1ftraceback:<lines>"
    lua_pushvalue(L, 1);
    lua_rotate(L, -2, 1);
    lua_concat(L, 2);  // "<message>\x1ftraceback:<lines>"
  }
  return 1;
}

}  // namespace

std::string trim_traceback(const std::string& tb) {
  std::string out;
  for (auto& line : util::split_lines(tb)) {
    std::string l = util::trim(line);
    if (l.empty() || l == "stack traceback:") continue;
    if (l.starts_with("[C]") || l.starts_with("[provium]")) continue;
    out += "    " + l + "\n";
  }
  if (!out.empty()) out.pop_back();
  return out;
}

FileState::FileState(FileContext* ctx, const std::vector<std::string>& roots) {
  L_ = luaL_newstate();
  if (!L_) throw std::runtime_error("cannot create a Lua state (out of memory)");
  set_context(L_, ctx);
  luaL_openlibs(L_);

  // require("a.b") -> <root>/a/b.lua, <root>/a/b/init.lua for every root, before the defaults.
  std::string path;
  for (auto& r : roots) path += fmt::format("{0}/?.lua;{0}/?/init.lua;", r);
  lua_getglobal(L_, "package");
  lua_getfield(L_, -1, "path");
  path += lua_tostring(L_, -1);
  lua_pop(L_, 1);
  lua_pushstring(L_, path.c_str());
  lua_setfield(L_, -2, "path");
  lua_pop(L_, 1);

  register_json(L_);
  register_framework(L_);
  register_lab(L_);
  register_vm(L_);
  register_bridge(L_);
  register_capture(L_);
  register_guest_objects(L_);
  lua_pushstring(L_, ctx->abs_path.c_str());
  lua_setglobal(L_, "_PROVIUM_SOURCE_PATH");
  push_lab(L_, ctx->root_lab);
  lua_setglobal(L_, "provium");

  if (luaL_loadbufferx(L_, kPreludeLua, sizeof(kPreludeLua) - 1, kPreludeChunk, "t") != LUA_OK ||
      lua_pcall(L_, 0, 0, 0) != LUA_OK) {
    std::string err = lua_tostring(L_, -1);
    lua_close(L_);
    L_ = nullptr;
    throw std::runtime_error("internal error: the Lua prelude failed: " + err);
  }
  if (ctx->listing) install_listing_standins(L_);
  lua_sethook(L_, interrupt_hook, LUA_MASKCOUNT, kHookEveryInstructions);
}

void FileState::rearm_hook() { lua_sethook(L_, interrupt_hook, LUA_MASKCOUNT, kHookEveryInstructions); }

FileState::~FileState() {
  if (L_) lua_close(L_);
}

std::optional<std::string> FileState::load_file(const std::string& path, const std::string& chunkname) {
  // Read ourselves so the chunk name is the reported path while the file is read by its real path.
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return fmt::format("cannot open `{}`: {}", chunkname, std::strerror(errno));
  std::string text;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  bool read_error = std::ferror(f);
  std::fclose(f);
  if (read_error) return fmt::format("cannot read `{}`", chunkname);
  // Allow a leading "#!" line like the standalone interpreter does.
  if (text.starts_with("#")) text.insert(0, "--");
  std::string name = "@" + chunkname;
  if (luaL_loadbufferx(L_, text.data(), text.size(), name.c_str(), "t") != LUA_OK) {
    std::string err = lua_tostring(L_, -1) ? lua_tostring(L_, -1) : "unknown load error";
    lua_pop(L_, 1);
    return err;
  }
  return std::nullopt;
}

std::optional<FileState::CallError> FileState::pcall(int nargs, int nresults) {
  int base = lua_gettop(L_) - nargs;  // index of the function
  lua_pushcfunction(L_, traceback_handler);
  lua_insert(L_, base);
  int rc = lua_pcall(L_, nargs, nresults, base);
  lua_remove(L_, base);
  if (rc == LUA_OK) return std::nullopt;
  CallError e;
  if (rc == LUA_ERRMEM) {
    e.message = "out of memory";
  } else if (lua_getglobal(L_, "_provium_is_skip"), lua_pushvalue(L_, -2),
             lua_pcall(L_, 1, 1, 0) == LUA_OK && lua_toboolean(L_, -1)) {
    lua_pop(L_, 1);
    e.skip = true;
    lua_getfield(L_, -1, "reason");
    e.skip_reason = lua_tostring(L_, -1) ? lua_tostring(L_, -1) : "skipped";
    lua_pop(L_, 1);
  } else {
    lua_pop(L_, 1);
    size_t len = 0;
    const char* s = nullptr;
    if (lua_type(L_, -1) == LUA_TSTRING || lua_type(L_, -1) == LUA_TNUMBER) {
      s = lua_tolstring(L_, -1, &len);
      std::string full(s, len);
      auto cut = full.find("\x1ftraceback:");
      if (cut != std::string::npos) {
        e.message = full.substr(0, cut);
        e.traceback = trim_traceback(full.substr(cut + 11));
        e.has_traceback = true;
      } else {
        e.message = full;
      }
    } else {
      // Error objects that are not strings: use __tostring when they have one, in a protected
      // call (a failing __tostring must not become an unprotected error).
      lua_pushcfunction(L_, [](lua_State* L) -> int {
        luaL_tolstring(L, 1, nullptr);
        return 1;
      });
      lua_pushvalue(L_, -2);
      if (lua_pcall(L_, 1, 1, 0) == LUA_OK) {
        s = lua_tolstring(L_, -1, &len);
        e.message = std::string(s, len);
        if (e.message.starts_with("table: ")) e.message = "error object is a table value";
      } else {
        e.message = fmt::format("error object is a {} value (its __tostring failed)", luaL_typename(L_, -2));
      }
      lua_pop(L_, 1);
    }
  }
  lua_pop(L_, 1);
  return e;
}

}  // namespace provium::lua
