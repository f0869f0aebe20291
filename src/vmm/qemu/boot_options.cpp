#include "vmm/qemu/boot_options.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "util/duration.hpp"

namespace provium::vmm::qemu {

namespace {

using events::MetaMap;
using events::MetaValue;

std::optional<std::string> text(const MetaValue& v) {
  if (auto s = v.as_string()) return *s;
  if (auto b = v.as_bytes()) return b->data;
  return std::nullopt;
}

std::optional<double> number(const MetaValue& v) {
  if (auto i = v.as_int()) return static_cast<double>(*i);
  if (auto d = std::get_if<double>(&v.v)) return *d;
  return std::nullopt;
}

[[noreturn]] void bad(const std::string& key, const std::string& what) {
  throw std::runtime_error(fmt::format("{}: {}", key, what));
}

// A size as everywhere else (REFERENCE §4.8): bytes, or a string like "256M".
std::uint64_t read_size(const MetaValue& v, const std::string& key) {
  constexpr const char* kForms = "bytes (a number) or a string like \"256M\", \"4G\", \"1024K\"";
  std::uint64_t bytes = 0;
  if (auto s = text(v)) {
    auto p = util::parse_size(*s);
    if (!p) bad(key, p.error);
    bytes = *p.value;
  } else if (auto n = number(v)) {
    if (!std::isfinite(*n) || *n < 1 || *n != std::floor(*n) || *n >= 0x1p64)
      bad(key, fmt::format("must be a positive size: {}", kForms));
    bytes = static_cast<std::uint64_t>(*n);
  } else {
    bad(key, fmt::format("must be a size: {}", kForms));
  }
  if (bytes == 0) bad(key, fmt::format("must be a positive size: {}", kForms));
  return bytes;
}

config::DiskSpec read_disk(const MetaValue& v, std::size_t index) {
  auto m = v.as_map();
  std::string where = fmt::format("disks[{}]", index + 1);
  if (!m) bad(where, "must be a table like {path = \"disk.img\"} or {scratch = \"64M\"}");
  config::DiskSpec d;
  d.id = fmt::format("boot{}", index);
  for (auto& [k, val] : *m) {
    if (k == "path") {
      auto s = text(val);
      if (!s) bad(where + ".path", "must be a string");
      d.path = *s;
    } else if (k == "id") {
      auto s = text(val);
      if (!s || s->empty()) bad(where + ".id", "must be a non-empty string");
      d.id = *s;
    } else if (k == "readonly") {
      auto b = val.as_bool();
      if (!b) bad(where + ".readonly", "must be a boolean");
      d.readonly = *b;
    } else if (k == "scratch") {
      d.scratch = read_size(val, where + ".scratch");
    } else if (k == "mediated") {
      auto b = val.as_bool();
      if (!b) bad(where + ".mediated", "must be a boolean");
      d.mediated = *b;
    } else if (k == "persist") {
      auto b = val.as_bool();
      if (!b) bad(where + ".persist", "must be a boolean");
      d.persist = *b;
    } else {
      bad(where,
          fmt::format("unknown key `{}` (expected path, scratch, id, readonly, mediated, persist)",
                      k));
    }
  }
  if (d.path.has_value() == d.scratch.has_value())
    bad(where, "needs exactly one of `path` and `scratch`");
  return d;
}

}  // namespace

BootOptions read_boot_options(const MetaMap& opts) {
  BootOptions b;
  if (auto it = opts.find("kernel_cmdline"); it != opts.end()) {
    if (!(b.kernel_cmdline = text(it->second))) bad("kernel_cmdline", "must be a string");
  }
  if (auto it = opts.find("kernel_cmdline_append"); it != opts.end()) {
    if (!(b.kernel_cmdline_append = text(it->second)))
      bad("kernel_cmdline_append", "must be a string");
  }
  if (auto it = opts.find("initial_time"); it != opts.end()) {
    auto n = number(it->second);
    if (!n || !std::isfinite(*n)) bad("initial_time", "must be epoch seconds (a finite number)");
    b.initial_time = static_cast<std::int64_t>(std::floor(*n));
  }
  if (auto it = opts.find("rng_seed"); it != opts.end()) {
    auto i = it->second.as_int();
    if (!i) bad("rng_seed", "must be an integer");
    b.rng_seed = static_cast<std::uint64_t>(*i);
  }
  if (auto it = opts.find("files"); it != opts.end()) {
    auto arr = it->second.as_array();
    if (!arr) bad("files", "must be an array of {path=, content=, mode=?}");
    for (std::size_t i = 0; i < arr->size(); ++i) {
      std::string where = fmt::format("files[{}]", i + 1);
      auto m = (*arr)[i].as_map();
      if (!m) bad(where, "must be a table {path=, content=, mode=?}");
      BootFile f;
      auto p = m->find("path");
      auto c = m->find("content");
      if (p == m->end() || !text(p->second) || !text(p->second)->starts_with("/"))
        bad(where + ".path", "must be an absolute guest path");
      if (c == m->end() || !text(c->second)) bad(where + ".content", "must be a string");
      f.path = *text(p->second);
      f.content = *text(c->second);
      if (auto md = m->find("mode"); md != m->end()) {
        auto i2 = md->second.as_int();
        if (!i2 || *i2 < 0 || *i2 > 07777)
          bad(where + ".mode", "must be an integer between 0 and 0o7777");
        f.mode = static_cast<std::uint32_t>(*i2);
      }
      for (auto& [k, _] : *m)
        if (k != "path" && k != "content" && k != "mode")
          bad(where, fmt::format("unknown key `{}` (expected path, content, mode)", k));
      b.files.push_back(std::move(f));
    }
  }
  if (auto it = opts.find("disks"); it != opts.end()) {
    auto arr = it->second.as_array();
    if (!arr) bad("disks", "must be an array of disk tables");
    for (std::size_t i = 0; i < arr->size(); ++i) b.disks.push_back(read_disk((*arr)[i], i));
  }
  return b;
}

}  // namespace provium::vmm::qemu
