#include "runner/lister.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "lab/lab.hpp"
#include "lua/context.hpp"
#include "lua/convert.hpp"
#include "lua/state.hpp"
#include "runner/watchdog.hpp"

namespace provium::runner {
namespace {

// Host commands become inert: io.popen yields an empty stream, os.execute pretends success,
// os.exit cannot end the listing.
constexpr const char* kInertLua = R"lua(
local inert_file = {
  read = function() return "" end,
  lines = function() return function() return nil end end,
  write = function(self) return self end,
  close = function() return true, "exit", 0 end,
  setvbuf = function() return true end,
  flush = function() return true end,
}
io.popen = function() return setmetatable({}, { __index = inert_file }) end
os.execute = function(cmd) if cmd == nil then return false end return true, "exit", 0 end
os.exit = function() error("os.exit is not allowed while listing", 2) end
)lua";

constexpr auto kListTimeout = std::chrono::seconds(10);

}  // namespace

ListedFile list_file(const TestFile& file, const config::Config& cfg,
                     const std::vector<std::string>& roots) {
  ListedFile out;
  out.file = file;
  Interrupt interrupt;
  Watchdog watchdog;
  auto handle = watchdog.add(
      &interrupt, Clock::now() + kListTimeout,
      fmt::format("listing timed out after {}s (file scope never finished)", kListTimeout.count()),
      nullptr);
  try {
    lua::FileContext ctx;
    ctx.config = &cfg;
    ctx.interrupt = &interrupt;
    ctx.listing = true;
    ctx.file = file.display;
    ctx.abs_path = file.abs.string();
    ctx.root_lab = std::make_shared<lab::Lab>("provium");
    lua::FileState st(&ctx, roots);
    lua_State* L = st.L();
    if (luaL_dostring(L, kInertLua) != LUA_OK) throw std::runtime_error(lua_tostring(L, -1));
    if (auto err = st.load_file(file.abs.string(), file.display)) {
      out.chunk_error = *err;
    } else if (auto cerr = st.pcall(0)) {
      out.chunk_error = interrupt.pending() ? interrupt.message() : cerr->message;
    }
    if (!out.chunk_error) {
      lua_sethook(L, nullptr, 0, 0);
      lua_getglobal(L, "_provium_get_tests");
      lua_call(L, 0, 1);
      for (lua_Integer i = 1, n = luaL_len(L, -1); i <= n; ++i) {
        lua_rawgeti(L, -1, i);
        lua_getfield(L, -1, "name");
        ListedTest t;
        t.name = lua_tostring(L, -1);
        lua_getfield(L, -2, "meta");
        t.meta = lua::to_meta_map(L, -1);
        lua_pop(L, 3);
        out.tests.push_back(std::move(t));
      }
      lua_pop(L, 1);
    }
  } catch (const std::exception& e) {
    out.chunk_error = fmt::format("panicked: {}", e.what());
  }
  watchdog.remove(handle);
  return out;
}

std::optional<std::string> check_syntax(const TestFile& file) {
  std::ifstream in(file.abs, std::ios::binary);
  if (!in) return fmt::format("cannot open `{}`: {}", file.display, std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return fmt::format("cannot read `{}`", file.display);
  std::string text = ss.str();
  // Like FileState::load_file: a leading "#!" line is allowed, the chunk is named by the path.
  if (text.starts_with("#")) text.insert(0, "--");
  std::unique_ptr<lua_State, void (*)(lua_State*)> L(luaL_newstate(), lua_close);
  if (!L) return "panicked: cannot create a Lua state (out of memory)";
  std::string name = "@" + file.display;
  if (luaL_loadbufferx(L.get(), text.data(), text.size(), name.c_str(), "t") != LUA_OK) {
    const char* err = lua_tostring(L.get(), -1);
    return err ? err : "unknown load error";
  }
  return std::nullopt;
}

}  // namespace provium::runner
