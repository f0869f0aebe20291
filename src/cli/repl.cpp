// `provium repl PROFILE [--name NAME]` (REFERENCE §2.3): boots one VM and opens a Lua prompt
// with the whole API, the VM bound to the global NAME (default `repl`) and to `vm`. Lines are
// tried as expressions first (`return <line>`, results printed), then as statements. Line
// editing and history come from libedit when stdin is a terminal; piped input is read plainly.
#include <editline/readline.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include "cli/commands.hpp"
#include "cli/preflight.hpp"
#include "config/build.hpp"
#include "config/config.hpp"
#include "fixture/service.hpp"
#include "lab/lab.hpp"
#include "lua/context.hpp"
#include "lua/lab_vm.hpp"
#include "lua/state.hpp"
#include "runner/interrupt.hpp"
#include "vmm/backend.hpp"

namespace provium::cli {
namespace {

std::string history_path() {
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.provium_history";
}

// Runs one line: as an expression when it parses as one, else as a statement.
void eval_line(lua::FileState& st, const std::string& line) {
  lua_State* L = st.L();
  int base = lua_gettop(L);
  std::string as_expr = "return " + line;
  if (luaL_loadbuffer(L, as_expr.data(), as_expr.size(), "=repl") != LUA_OK) {
    lua_pop(L, 1);
    if (luaL_loadbuffer(L, line.data(), line.size(), "=repl") != LUA_OK) {
      std::fprintf(stderr, "%s\n", lua_tostring(L, -1));
      lua_settop(L, base);
      return;
    }
  }
  if (auto err = st.pcall(0, LUA_MULTRET)) {
    std::fprintf(stderr, "%s\n", err->message.c_str());
    if (err->has_traceback && !err->traceback.empty())
      std::fprintf(stderr, "%s\n", err->traceback.c_str());
    lua_settop(L, base);
    return;
  }
  int n = lua_gettop(L) - base;
  for (int i = 1; i <= n; ++i) {
    std::printf("%s%s", i > 1 ? "\t" : "", luaL_tolstring(L, base + i, nullptr));
    lua_pop(L, 1);
  }
  if (n > 0) std::printf("\n");
  std::fflush(stdout);
  lua_settop(L, base);
}

}  // namespace

int run_repl(const Options& o) {
  namespace fs = std::filesystem;
  auto loaded = load_config_or_report(o);
  if (!loaded) return 2;
  config::Config& cfg = *loaded;
  std::optional<std::string> profile_name = o.profile;
  // With --fixture and no profile, the first profile by name (seed-cli).
  if (!profile_name && o.fixture_path && !cfg.profiles.empty())
    profile_name = cfg.profiles.begin()->first;
  if (!profile_name) {
    fmt::print(stderr, "provium repl: name a profile (one of the [profiles] in {})\n",
               cfg.path.string());
    return 2;
  }
  const config::Profile* profile = find_profile_or_report(cfg, *profile_name, "repl");
  if (!profile) return 2;
  if (auto err = preflight(o)) {
    fmt::print(stderr, "{}\n", *err);
    return 2;
  }
  if (!o.no_build)
    if (auto err = config::run_build(*profile)) {
      fmt::print(stderr, "{}\n", *err);
      return 2;
    }
  vmm::BackendSettings vs;
  vs.accel = o.accel;
  vs.transport = o.transport;
  vs.ksm = !o.no_ksm;
  runner::Interrupt intr;
  lua::FileContext ctx;
  ctx.config = &cfg;
  ctx.interrupt = &intr;
  ctx.backend = vmm::backend_for(o.vmm, vs);
  ctx.file = "repl";
  ctx.abs_path = "repl";
  ctx.root_lab = std::make_shared<lab::Lab>("provium");
  std::vector<fs::path> root_paths = cfg.roots;
  if (root_paths.empty()) root_paths.push_back(fs::current_path());  // as discovery does
  std::vector<std::string> roots;
  for (auto& r : root_paths) roots.push_back(r.string());
  fixture::Service fixtures(fixture::service_settings(cfg, root_paths, ctx.backend, nullptr));
  ctx.fixtures = &fixtures;
  ctx.roots = roots;
  lua::FileState st(&ctx, roots);
  lua_State* L = st.L();
  std::string boot =
      o.fixture_path
          ? fmt::format("{0} = vm_fixture({1:?}); vm = {0}", o.repl_name, *o.fixture_path)
          : fmt::format("{0} = provium:vm({1:?}, {2:?}); {0}:boot(); vm = {0}", o.repl_name,
                        o.repl_name, *profile_name);
  bool name_ok =
      !o.repl_name.empty() &&
      (std::isalpha(static_cast<unsigned char>(o.repl_name[0])) || o.repl_name[0] == '_');
  for (char c : o.repl_name)
    name_ok = name_ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
  if (!name_ok) {
    fmt::print(stderr, "provium repl: --name `{}` must be a Lua identifier (letters, digits, _)\n",
               o.repl_name);
    return 2;
  }
  if (o.fixture_path)
    fmt::print(stderr, "provium: resuming `{}` from fixture `{}`...\n", o.repl_name,
               *o.fixture_path);
  else
    fmt::print(stderr, "provium: booting `{}` ({})...\n", o.repl_name, *profile_name);
  if (luaL_loadstring(L, boot.c_str()) != LUA_OK) {
    fmt::print(stderr, "provium repl: {}\n", lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
    return 1;
  }
  if (auto err = st.pcall(0)) {
    fmt::print(stderr, "provium repl: the VM did not {}: {}\n", o.fixture_path ? "resume" : "boot",
               err->message);
    return 1;
  }
  bool tty = ::isatty(0);
  fmt::print(
      stderr,
      "provium: `{0}` (also `vm`) is booted; Ctrl-D quits. Try {0}:run(\"uname -a\").stdout\n",
      o.repl_name);
  std::string hist = history_path();
  if (tty) read_history(hist.c_str());
  while (true) {
    std::string line;
    if (tty) {
      char* raw = readline("provium> ");
      if (!raw) break;
      line = raw;
      std::free(raw);
      if (!line.empty()) add_history(line.c_str());
    } else {
      if (!std::getline(std::cin, line)) break;
    }
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    eval_line(st, line);
  }
  if (tty) write_history(hist.c_str());
  // Scope teardown shuts the VM down (the FileState's root lab).
  lua_getglobal(L, o.repl_name.c_str());
  lua_getfield(L, -1, "shutdown");
  lua_insert(L, -2);
  st.pcall(1);
  return 0;
}

}  // namespace provium::cli
