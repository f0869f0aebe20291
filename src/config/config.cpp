#include "config/config.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "util/duration.hpp"

namespace provium::config {
namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : nullptr;
}

// Everything that can go wrong while reading one file carries its location; this is the
// context threaded through the readers below.
struct Reader {
  fs::path config_path;  // for "invalid config in `...`"
  fs::path file;         // the file being read (provium.toml or a profile.provium.toml)

  [[noreturn]] void fail(const toml::node* at, const std::string& what) const {
    std::string where;
    if (file != config_path) where = fmt::format("{}: ", file.string());
    if (at && at->source().begin.line > 0)
      where += fmt::format("line {}: ", at->source().begin.line);
    throw ConfigError(
        fmt::format("invalid config in `{}`: {}{}", config_path.string(), where, what));
  }

  std::string get_string(const toml::node& n, const std::string& what) const {
    if (auto s = n.as_string()) return s->get();
    fail(&n, fmt::format("{} must be a string, got {}", what, type_name(n)));
  }
  bool get_bool(const toml::node& n, const std::string& what) const {
    if (auto b = n.as_boolean()) return b->get();
    fail(&n, fmt::format("{} must be true or false, got {}", what, type_name(n)));
  }
  std::uint64_t get_size(const toml::node& n, const std::string& what) const {
    if (auto i = n.as_integer()) {
      if (i->get() < 0) fail(&n, fmt::format("{} must not be negative", what));
      return static_cast<std::uint64_t>(i->get());
    }
    if (auto s = n.as_string()) {
      auto p = util::parse_size(s->get());
      if (!p) fail(&n, fmt::format("{}: {}", what, p.error));
      return *p.value;
    }
    fail(&n, fmt::format("{} must be a size (bytes or a string like \"20G\"), got {}", what,
                         type_name(n)));
  }
  static std::string type_name(const toml::node& n) {
    switch (n.type()) {
      case toml::node_type::string:
        return "a string";
      case toml::node_type::integer:
        return "an integer";
      case toml::node_type::floating_point:
        return "a float";
      case toml::node_type::boolean:
        return "a boolean";
      case toml::node_type::array:
        return "an array";
      case toml::node_type::table:
        return "a table";
      default:
        return "a date/time";
    }
  }
};

fs::path default_build_out(const std::string& profile) {
  if (auto d = env("PROVIUM_BUILD_DIR")) return fs::path(d) / profile;
  if (auto d = env("XDG_CACHE_HOME")) return fs::path(d) / "provium" / "builds" / profile;
  if (auto d = env("HOME")) return fs::path(d) / ".cache" / "provium" / "builds" / profile;
  return fs::path("/tmp/provium-builds") / profile;
}

std::string replace_out(std::string s, const std::string& out) {
  for (size_t at = s.find("{out}"); at != std::string::npos; at = s.find("{out}", at + out.size()))
    s.replace(at, 5, out);
  return s;
}

fs::path resolve(const fs::path& base, const std::string& value) {
  fs::path p(value);
  return p.is_absolute() ? p.lexically_normal() : (base / p).lexically_normal();
}

const std::set<std::string> kProfileKeys = {"kernel",
                                            "initrd",
                                            "cmdline",
                                            "cmdline_file",
                                            "guest_os",
                                            "inject_agent",
                                            "agent_overlay_path",
                                            "agent_boot_timeout",
                                            "build",
                                            "build_out",
                                            "disks",
                                            "root"};

std::string known_list(const std::set<std::string>& keys) {
  std::string out;
  for (auto& k : keys) out += (out.empty() ? "" : ", ") + k;
  return out;
}

DiskSpec read_disk(const Reader& r, const toml::node& n, const std::string& profile, size_t index,
                   const fs::path& base, const std::string& out) {
  auto t = n.as_table();
  if (!t)
    r.fail(&n, fmt::format("profile `{}`: disks[{}] must be a table like {{ path = \"disk.img\" }}",
                           profile, index));
  static const std::set<std::string> keys = {"path",     "scratch",  "id",
                                             "readonly", "mediated", "persist"};
  DiskSpec d;
  d.id = fmt::format("disk{}", index);
  for (auto&& [k, v] : *t) {
    std::string key(k.str());
    std::string what = fmt::format("profile `{}`: disks[{}].{}", profile, index, key);
    if (key == "path")
      d.path = resolve(base, replace_out(r.get_string(v, what), out));
    else if (key == "scratch")
      d.scratch = r.get_size(v, what);
    else if (key == "id")
      d.id = r.get_string(v, what);
    else if (key == "readonly")
      d.readonly = r.get_bool(v, what);
    else if (key == "mediated")
      d.mediated = r.get_bool(v, what);
    else if (key == "persist")
      d.persist = r.get_bool(v, what);
    else
      r.fail(&v, fmt::format("profile `{}`: disks[{}] has unknown key `{}` (known: {})", profile,
                             index, key, known_list(keys)));
  }
  if (d.path && d.scratch)
    r.fail(&n, fmt::format("profile `{}`: disks[{}] sets both `path` and `scratch`; choose one",
                           profile, index));
  if (!d.path && !d.scratch)
    r.fail(&n, fmt::format("profile `{}`: disks[{}] needs `path` (an image) or `scratch` (a size)",
                           profile, index));
  if (d.id.empty())
    r.fail(&n, fmt::format("profile `{}`: disks[{}].id must not be empty", profile, index));
  return d;
}

Profile read_profile(const Reader& r, const std::string& name, const toml::table& t,
                     const fs::path& base) {
  Profile p;
  p.name = name;
  p.base_dir = base;
  p.defined_in = r.file;
  // build_out first: `{out}` in every other field expands to it.
  if (auto bo = t.get("build_out")) {
    std::string v = r.get_string(*bo, fmt::format("profile `{}`: build_out", name));
    if (v.find("{out}") != std::string::npos)
      r.fail(bo, fmt::format("profile `{}`: build_out cannot contain `{{out}}`", name));
    p.build_out = fs::absolute(resolve(base, v)).lexically_normal();
  } else {
    p.build_out = fs::absolute(default_build_out(name)).lexically_normal();
  }
  const std::string out = p.build_out.string();
  for (auto&& [k, v] : t) {
    std::string key(k.str());
    std::string what = fmt::format("profile `{}`: {}", name, key);
    if (key == "kernel") {
      std::string s = r.get_string(v, what);  // empty: not set (a `root` may provide it)
      if (!s.empty()) p.kernel = resolve(base, replace_out(s, out));
    } else if (key == "initrd") {
      std::string s = r.get_string(v, what);
      if (!s.empty()) p.initrd = resolve(base, replace_out(s, out));
    } else if (key == "cmdline") {
      p.cmdline = r.get_string(v, what);
    } else if (key == "cmdline_file") {
      std::string s = r.get_string(v, what);
      if (!s.empty()) p.cmdline_file = resolve(base, replace_out(s, out));
    } else if (key == "guest_os") {
      p.guest_os = r.get_string(v, what);
    } else if (key == "inject_agent") {
      p.inject_agent = r.get_bool(v, what);
    } else if (key == "agent_overlay_path") {
      p.agent_overlay_path = resolve(base, replace_out(r.get_string(v, what), out));
    } else if (key == "agent_boot_timeout") {
      double secs;
      if (auto i = v.as_integer())
        secs = static_cast<double>(i->get());
      else if (auto f = v.as_floating_point())
        secs = f->get();
      else
        r.fail(&v,
               fmt::format("{} must be a number of seconds, got {}", what, Reader::type_name(v)));
      if (!std::isfinite(secs) || secs <= 0)
        r.fail(&v, fmt::format("{} must be a positive number of seconds", what));
      p.agent_boot_timeout = secs;
    } else if (key == "build") {
      p.build = replace_out(r.get_string(v, what), out);
    } else if (key == "build_out") {
      // handled above
    } else if (key == "disks") {
      auto arr = v.as_array();
      if (!arr) r.fail(&v, fmt::format("{} must be an array of tables", what));
      std::set<std::string> ids;
      for (size_t i = 0; i < arr->size(); ++i) {
        DiskSpec d = read_disk(r, *arr->get(i), name, i, base, out);
        if (!ids.insert(d.id).second)
          r.fail(arr->get(i), fmt::format("profile `{}` has duplicate disk id `{}`", name, d.id));
        p.disks.push_back(std::move(d));
      }
    } else if (key == "root") {
      // Only the path: the tree (and the kernel in it) is made by `build` and looked at at boot.
      std::string s = r.get_string(v, what);
      if (!s.empty()) p.root = resolve(base, replace_out(s, out));
    } else {
      r.fail(&v, fmt::format("profile `{}` has unknown key `{}` (known: {})", name, key,
                             known_list(kProfileKeys)));
    }
  }
  if (p.kernel.empty() && !p.root)
    r.fail(&t, fmt::format("profile `{}` has no `kernel` or `root`; set `kernel` to a bzImage path "
                           "or `root` to a root tree with the kernel in it (e.g. \"{{out}}/root\")",
                           name));
  if (p.guest_os != "linux")
    r.fail(t.get("guest_os"),
           fmt::format("profile `{}` has guest_os = `{}`, only `linux` is supported", name,
                       p.guest_os));
  if (p.cmdline.empty() && !p.cmdline_file)
    r.fail(&t, fmt::format("profile `{}` has empty cmdline and no `cmdline_file`; set at least one",
                           name));
  if (!p.inject_agent && !p.initrd)
    r.fail(
        t.get("inject_agent"),
        fmt::format("profile `{}` has inject_agent = false but no `initrd`; the image must start "
                    "the agent itself, so set `initrd` or remove inject_agent",
                    name));
  return p;
}

toml::table parse_file_text(const std::string& text, const fs::path& file) {
  try {
    return toml::parse(text, file.string());
  } catch (const toml::parse_error& e) {
    const auto& src = e.source();
    throw ConfigError(fmt::format("parse `{}`: line {}, column {}: {}", file.string(),
                                  src.begin.line, src.begin.column, e.description()));
  }
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    std::string why = fs::is_directory(path, ec) ? "is a directory" : std::strerror(errno);
    throw ConfigError(fmt::format("read `{}`: {}", path.string(), why));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad())
    throw ConfigError(fmt::format("read `{}`: {}", path.string(), std::strerror(errno)));
  return ss.str();
}

void read_from_dir(Config& cfg, const Reader& top, const toml::node& node, const fs::path& cwd) {
  std::string dir_s = top.get_string(node, "[profiles] from_dir");
  fs::path dir = resolve(cwd, dir_s);
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    top.fail(&node, fmt::format("[profiles] from_dir = \"{}\": `{}` is not a directory", dir_s,
                                dir.string()));
  std::vector<fs::path> subdirs;
  for (auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_directory() && fs::exists(e.path() / "profile.provium.toml"))
      subdirs.push_back(e.path());
  }
  std::sort(subdirs.begin(), subdirs.end());
  if (subdirs.empty())
    top.fail(&node, fmt::format("[profiles] from_dir = \"{}\" has no `<name>/profile.provium.toml` "
                                "profiles in `{}`",
                                dir_s, dir.string()));
  for (auto& sub : subdirs) {
    fs::path file = sub / "profile.provium.toml";
    std::string name = sub.filename().string();
    toml::table t = parse_file_text(read_text(file), file);
    Reader r{top.config_path, file};
    if (cfg.profiles.count(name))
      r.fail(nullptr, fmt::format("profile `{}` is defined inline and in `{}`; rename one", name,
                                  file.string()));
    cfg.profiles.emplace(name, read_profile(r, name, t, fs::absolute(sub).lexically_normal()));
    cfg.profile_files.push_back(fs::absolute(file));
  }
}

}  // namespace

Config parse(const std::string& text, const fs::path& path, const fs::path& cwd) {
  Config cfg;
  cfg.path = path;
  cfg.file_exists = true;
  toml::table root = parse_file_text(text, path);
  Reader r{path, path};
  const toml::node* from_dir = nullptr;
  for (auto&& [k, v] : root) {
    std::string key(k.str());
    if (key == "provium") {
      auto t = v.as_table();
      if (!t) r.fail(&v, "`provium` must be a table ([provium])");
      for (auto&& [pk, pv] : *t) {
        std::string pkey(pk.str());
        if (pkey == "roots") {
          auto arr = pv.as_array();
          if (!arr)
            r.fail(&pv, "[provium] roots must be an array of paths, e.g. roots = [\"tests\"]");
          for (auto& item : *arr)
            cfg.roots.push_back(
                fs::absolute(resolve(cwd, r.get_string(item, "[provium] roots entry"))));
        } else if (pkey == "cache_dir") {
          cfg.cache_dir = fs::absolute(resolve(cwd, r.get_string(pv, "[provium] cache_dir")));
        } else if (pkey == "cache_max_size") {
          cfg.cache_max_size = r.get_size(pv, "[provium] cache_max_size");
        } else {
          r.fail(&pv,
                 fmt::format(
                     "[provium] has unknown key `{}` (known: cache_dir, cache_max_size, roots)",
                     pkey));
        }
      }
    } else if (key == "profiles") {
      auto t = v.as_table();
      if (!t) r.fail(&v, "`profiles` must be a table of [profiles.<name>] tables");
      for (auto&& [name_k, pv] : *t) {
        std::string name(name_k.str());
        if (name == "from_dir") {
          from_dir = &pv;
          continue;
        }
        auto pt = pv.as_table();
        if (!pt)
          r.fail(&pv, fmt::format("profile `{}` must be a table ([profiles.{}])", name, name));
        if (name.empty()) r.fail(&pv, "profile names must not be empty");
        cfg.profiles.emplace(name,
                             read_profile(r, name, *pt, fs::absolute(cwd).lexically_normal()));
      }
    } else if (key == "profile") {
      r.fail(&v, "`[profile.<name>]` is the legacy form; use `[profiles.<name>]`");
    } else {
      r.fail(&v, fmt::format("unknown top-level key `{}` (known: [provium], [profiles])", key));
    }
  }
  if (from_dir) read_from_dir(cfg, r, *from_dir, cwd);
  return cfg;
}

Config load(const fs::path& path, bool explicit_path) {
  std::error_code ec;
  if (!explicit_path && !fs::exists(path, ec)) {
    Config cfg;
    cfg.path = path;
    return cfg;
  }
  std::string text = read_text(path);
  return parse(text, path, fs::current_path());
}

fs::path Config::effective_cache_dir() const {
  if (cache_dir) return *cache_dir;
  if (auto d = env("PROVIUM_FIXTURE_CACHE")) return fs::path(d);
  if (auto d = env("XDG_CACHE_HOME")) return fs::path(d) / "provium" / "fixtures";
  if (auto d = env("HOME")) return fs::path(d) / ".cache" / "provium" / "fixtures";
  return "/tmp/provium-fixtures";
}

std::vector<fs::path> Config::watched_files() const {
  std::vector<fs::path> out;
  if (file_exists) out.push_back(fs::absolute(path));
  out.insert(out.end(), profile_files.begin(), profile_files.end());
  return out;
}

}  // namespace provium::config
