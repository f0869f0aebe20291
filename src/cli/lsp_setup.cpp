// `provium lsp-setup [DIR] [--force]`: Lua Language Server definitions for a test directory.
#include <fmt/format.h>

#include <filesystem>
#include <fstream>

#include "cli/commands.hpp"
#include "lua/api.hpp"

namespace provium::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kLuarc = R"json({
  "runtime.version": "Lua 5.4",
  "workspace.library": [".provium-meta"],
  "diagnostics.globals": ["test", "todo", "wait_until", "json", "provium", "vm_fixture", "lab_fixture"]
}
)json";

bool write_file(const fs::path& p, const std::string& body) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << body;
  out.flush();
  if (!out) {
    fmt::print(stderr, "provium lsp-setup: cannot write `{}`: {}\n", p.string(),
               std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace

int run_lsp_setup(const Options& o) {
  fs::path dir = o.lsp_dir;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    fmt::print(stderr,
               "provium lsp-setup: `{}` is not a directory; create it or pass another DIR\n",
               dir.string());
    return 2;
  }
  fs::path meta = dir / ".provium-meta";
  fs::create_directories(meta, ec);
  if (ec) {
    fmt::print(stderr, "provium lsp-setup: cannot create `{}`: {}\n", meta.string(), ec.message());
    return 2;
  }
  if (!write_file(meta / "types.lua", lua::render_types_lua())) return 2;
  fmt::print("wrote {}\n", (meta / "types.lua").string());
  fs::path luarc = dir / ".luarc.json";
  if (fs::exists(luarc, ec) && !o.lsp_force) {
    fmt::print(
        "`{}` already exists; not replacing it (pass --force to overwrite). Merge this into "
        "it:\n{}",
        luarc.string(), kLuarc);
    return 0;
  }
  if (!write_file(luarc, kLuarc)) return 2;
  fmt::print("wrote {}\nreload your editor's Lua language server to pick them up\n",
             luarc.string());
  return 0;
}

}  // namespace provium::cli
