#include "lua/api.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string_view>
#include <types_header_lua.hpp>

namespace provium::lua {

const std::vector<const TypeDecl*>& api_types() {
  static const std::vector<const TypeDecl*> all = {
      &kRunResultApi,
      &kStreamApi,
      &kProcessApi,
      &kFileApi,
      &kConsoleApi,
      &kClockApi,
      &kWorkerApi,
      &kPendingSyscallApi,
      &kAsyncSyscallApi,
      &kSnapshotApi,
      &kLabSnapshotApi,
      &kCaptureApi,
      &kNicApi,
      &kBridgeApi,
      &kBridgeFaultsApi,
      &kBatchApi,
      &kVmApi,
      &kVmGuestApi,
      &kVmObjectsApi,
      &kVmFileApi,
      &kVmBatchApi,
      &kVmWorkerApi,
      &kVmLifecycleApi,
      &kVmConsoleApi,
      &kVmRawApi,
      &kVmNicApi,
      &kLabApi,
      &kLabBridgeApi,
      &kLabSnapshotRestoreApi,
      &kLabFixtureApi,
  };
  return all;
}

void register_methods(lua_State* L, const TypeDecl& t, int table_idx, lua_CFunction wrap) {
  table_idx = lua_absindex(L, table_idx);
  for (std::size_t i = 0; i < t.count; ++i) {
    const Method& m = t.methods[i];
    lua_pushcfunction(L, m.fn);
    if (wrap) lua_pushcclosure(L, wrap, 1);
    lua_setfield(L, table_idx, m.name);
  }
}

namespace {

std::string_view trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

bool is_identifier(std::string_view s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

}  // namespace

std::vector<Param> parse_params(const std::string& params) {
  std::vector<Param> out;
  if (trim(params).empty()) return out;
  // Split at the commas outside (), {}, [] and <> (types like fun(a, b) or {x: T, y: U}).
  std::vector<std::string_view> parts;
  std::string_view all = params;
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    char c = all[i];
    if (c == '(' || c == '{' || c == '[' || c == '<') ++depth;
    if (c == ')' || c == '}' || c == ']' || c == '>') --depth;
    if (c == ',' && depth == 0) {
      parts.push_back(all.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.push_back(all.substr(start));
  if (depth != 0) throw std::invalid_argument(fmt::format("unbalanced brackets in `{}`", params));
  for (auto raw : parts) {
    auto part = trim(raw);
    if (!out.empty() && out.back().name == "...")
      throw std::invalid_argument(fmt::format("`...` must come last in `{}`", params));
    if (part == "...") {
      out.push_back({"...", "", false});
      continue;
    }
    auto colon = part.find(':');
    if (colon == std::string_view::npos)
      throw std::invalid_argument(fmt::format("parameter `{}` has no type (name: type)", part));
    Param p;
    auto name = trim(part.substr(0, colon));
    p.type = std::string(trim(part.substr(colon + 1)));
    if (name.ends_with('?')) {
      p.optional = true;
      name.remove_suffix(1);
    }
    if (!(name == "..." || is_identifier(name)) || p.type.empty())
      throw std::invalid_argument(fmt::format("bad parameter `{}` in `{}`", part, params));
    p.name = std::string(name);
    out.push_back(std::move(p));
  }
  return out;
}

std::string render_types_lua() {
  std::string header = kTypesHeaderLua;
  std::string out = header;
  if (!out.ends_with('\n')) out += '\n';
  std::vector<std::string_view> classes;  // in order of first declaration
  for (const TypeDecl* t : api_types())
    if (std::find(classes.begin(), classes.end(), t->lua_class) == classes.end())
      classes.push_back(t->lua_class);
  for (auto cls : classes) {
    out += '\n';
    if (header.find(fmt::format("\nlocal {} = {{}}\n", cls)) == std::string::npos)
      out += fmt::format("---@class {0}\nlocal {0} = {{}}\n", cls);
    for (const TypeDecl* t : api_types()) {
      if (t->lua_class != cls) continue;
      for (std::size_t i = 0; i < t->count; ++i) {
        const Method& m = t->methods[i];
        out += fmt::format("--- {}\n", m.doc);
        std::string args;
        for (const Param& p : parse_params(m.params)) {
          if (!p.type.empty())
            out += fmt::format("---@param {}{} {}\n", p.name, p.optional ? "?" : "", p.type);
          args += (args.empty() ? "" : ", ") + p.name;
        }
        if (std::string_view(m.returns) != "nil") out += fmt::format("---@return {}\n", m.returns);
        out += fmt::format("function {}:{}({}) end\n", cls, m.name, args);
      }
    }
  }
  return out;
}

}  // namespace provium::lua
