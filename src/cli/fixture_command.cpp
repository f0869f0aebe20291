// provium fixture list | build | rebuild | stale | export | import (seed-cli, REFERENCE §2.3,
// §8.6). `clean` is in commands.cpp. Builds use the same key, post-processing and install as
// lazy builds in a suite.
#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "config/build.hpp"
#include "fixture/cache.hpp"
#include "fixture/service.hpp"
#include "lab/lab.hpp"
#include "lua/fixture.hpp"
#include "runner/discovery.hpp"
#include "runner/interrupt.hpp"
#include "util/sha256.hpp"
#include "vmm/backend.hpp"

namespace provium::cli {
namespace {

namespace fs = std::filesystem;
constexpr const char* kIndexName = "provium-fixtures.json";
constexpr const char* kExportFormat = "provium-fixture-export-1";

std::string mib(std::uint64_t bytes) { return fmt::format("{:.2f}MiB", bytes / 1048576.0); }

// Everything a fixture subcommand works with: the config, the roots, a backend, the service.
struct FixtureSetup {
  config::Config cfg;
  runner::Discovery discovery;  // of *.fixture.lua
  vmm::Backend* backend = nullptr;
  std::unique_ptr<fixture::Service> service;

  std::string name_of(const runner::TestFile& f) const {
    return f.root_rel.substr(0, f.root_rel.size() - std::string(".fixture.lua").size());
  }
};

// On the heap: the service keeps a pointer to the config.
std::unique_ptr<FixtureSetup> setup(const Options& o, const char* command, bool build_profiles) {
  auto cfg = load_config_or_report(o);
  if (!cfg) return nullptr;
  auto owned = std::make_unique<FixtureSetup>(FixtureSetup{std::move(*cfg), {}, nullptr, nullptr});
  FixtureSetup& s = *owned;
  if (build_profiles)
    if (auto err = config::run_all_builds(s.cfg)) {
      fmt::print(stderr, "{}\n", *err);
      return nullptr;
    }
  s.discovery = runner::discover(o.paths, s.cfg.roots, ".fixture.lua");
  vmm::BackendSettings vs;
  vs.accel = o.accel;
  vs.transport = o.transport;
  vs.ksm = !o.no_ksm;
  s.backend = vmm::backend_for(o.vmm, vs);
  if (!s.backend) {
    fmt::print(stderr, "provium fixture {}: no `{}` backend in this build\n", command, o.vmm);
    return nullptr;
  }
  s.service = std::make_unique<fixture::Service>(
      fixture::service_settings(s.cfg, s.discovery.roots, s.backend, nullptr));
  return owned;
}

int build_one(const Options& o, bool rebuild) {
  const char* command = rebuild ? "rebuild" : "build";
  auto s = setup(o, command, true);
  if (!s) return 2;
  std::string name = *o.fixture_path;
  if (name.ends_with(".fixture.lua")) name.resize(name.size() - std::string(".fixture.lua").size());
  runner::Interrupt interrupt;
  lua::FileContext ctx;
  ctx.config = &s->cfg;
  ctx.interrupt = &interrupt;
  ctx.backend = s->backend;
  ctx.file = "provium fixture " + std::string(command);
  ctx.root_lab = std::make_shared<lab::Lab>("provium");
  for (auto& r : s->discovery.roots) ctx.roots.push_back(r.string());
  ctx.fixtures = s->service.get();
  try {
    if (rebuild) {
      // Both forms go (REFERENCE §2.3); the build below installs the new one.
      auto k = s->service->key(name);
      s->service->cache().evict(k.key);
    }
    auto t0 = std::chrono::steady_clock::now();
    auto got = lua::obtain_fixture(ctx, name, "provium fixture build", false);
    if (got.from_cache) {
      fmt::print("already built: {}\n", name);
      return 0;
    }
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
    fmt::print("built: {} ({} {}, {}, {:.1f}s)\n", name, got.entry.kind, got.key.key.substr(0, 12),
               mib(got.entry.bytes), took.count());
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}\n", e.what());
    return 1;
  }
}

int run_list_entries(const Options& o) {
  auto cfg = load_config_or_report(o);
  if (!cfg) return 2;
  fixture::Cache cache(cfg->effective_cache_dir());
  std::uint64_t total = 0;
  auto entries = cache.list();
  for (auto& e : entries) {
    fmt::print("{:>10}  {:<3}  {}  {}\n", mib(e.bytes), e.kind, e.key,
               e.manifest.value("fixture", "?"));
    total += e.bytes;
  }
  fmt::print("{} entr{}, {:.2f} MiB\n", entries.size(), entries.size() == 1 ? "y" : "ies",
             total / 1048576.0);
  return 0;
}

int run_stale(const Options& o) {
  auto s = setup(o, "stale", true);
  if (!s) return 2;
  int stale = 0;
  bool problems = false;
  for (auto& f : s->discovery.files) {
    std::string name = s->name_of(f);
    std::string why;
    try {
      auto k = s->service->key(name);
      auto e = s->service->cache().find(k.key, &why);
      if (e) {
        if (auto changed = s->service->changed_input(*e))
          why = *changed;
        else
          continue;
      } else if (why.empty()) {
        why = "not built";
      }
    } catch (const std::exception& e) {
      why = e.what();
      problems = true;
    }
    fmt::print("{}  ({})\n", f.display, why);
    ++stale;
  }
  fmt::print("{} stale fixture(s)\n", stale);
  return problems || !s->discovery.problems.empty() ? 2 : 0;
}

// Files of an entry relative to the cache directory.
std::vector<fs::path> entry_files(const fixture::Cache& cache, const fixture::Entry& e) {
  std::vector<fs::path> out;
  if (e.kind == "vm") {
    out.push_back(e.snapshot.filename());
    out.push_back(cache.manifest_path(e.key).filename());
  } else {
    std::error_code ec;
    for (auto& f : fs::directory_iterator(e.snapshot, ec))
      if (f.is_regular_file()) out.push_back(e.snapshot.filename() / f.path().filename());
  }
  return out;
}

struct ArchiveWriter {
  archive* a = archive_write_new();
  ~ArchiveWriter() { archive_write_free(a); }
  void add(const std::string& name, const fs::path& from) {
    std::error_code ec;
    auto size = fs::file_size(from, ec);
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_size(e, static_cast<la_int64_t>(size));
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    if (archive_write_header(a, e) != ARCHIVE_OK) fail();
    archive_entry_free(e);
    std::ifstream in(from, std::ios::binary);
    std::vector<char> buf(1 << 20);
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      if (in.gcount() > 0 &&
          archive_write_data(a, buf.data(), static_cast<size_t>(in.gcount())) < 0)
        fail();
    }
  }
  [[noreturn]] void fail() { throw std::runtime_error(archive_error_string(a)); }
};

int run_export(const Options& o) {
  auto s = setup(o, "export", !o.fixture_names.empty());
  if (!s) return 2;
  auto& cache = s->service->cache();
  std::vector<fixture::Entry> chosen;
  if (o.fixture_names.empty()) {
    chosen = cache.list();
  } else {
    for (auto name : o.fixture_names) {
      if (name.ends_with(".fixture.lua"))
        name.resize(name.size() - std::string(".fixture.lua").size());
      try {
        auto k = s->service->key(name);
        auto e = cache.find(k.key);
        if (!e) {
          fmt::print(stderr,
                     "provium fixture export: fixture `{}` is not built; run `provium fixture "
                     "build {}` first\n",
                     name, name);
          return 1;
        }
        chosen.push_back(std::move(*e));
      } catch (const std::exception& e) {
        fmt::print(stderr, "provium fixture export: {}\n", e.what());
        return 1;
      }
    }
  }
  nlohmann::json index = {{"format", kExportFormat}, {"entries", nlohmann::json::array()}};
  for (auto& e : chosen) {
    nlohmann::json files = nlohmann::json::array();
    for (auto& f : entry_files(cache, e))
      files.push_back({{"name", f.string()},
                       {"bytes", fs::file_size(cache.dir() / f)},
                       {"sha256", util::sha256_file(cache.dir() / f)}});
    index["entries"].push_back({{"key", e.key},
                                {"kind", e.kind},
                                {"fixture", e.manifest.value("fixture", "")},
                                {"vmm", e.manifest.value("vmm", "")},
                                {"files", files}});
  }
  fs::path tmp = o.fixture_archive + ".tmp";
  try {
    ArchiveWriter w;
    archive_write_set_format_pax_restricted(w.a);
    if (archive_write_open_filename(w.a, tmp.c_str()) != ARCHIVE_OK) w.fail();
    fs::path index_file = tmp;
    index_file += ".index";
    std::ofstream(index_file) << index.dump(2) << "\n";
    w.add(kIndexName, index_file);
    fs::remove(index_file);
    for (auto& e : chosen)
      for (auto& f : entry_files(cache, e)) w.add(f.string(), cache.dir() / f);
    if (archive_write_close(w.a) != ARCHIVE_OK) w.fail();
    fs::rename(tmp, o.fixture_archive);
  } catch (const std::exception& e) {
    std::error_code ec;
    fs::remove(tmp, ec);
    fmt::print(stderr, "provium fixture export: `{}`: {}\n", o.fixture_archive, e.what());
    return 1;
  }
  fmt::print("exported {} entr{} to {}\n", chosen.size(), chosen.size() == 1 ? "y" : "ies",
             o.fixture_archive);
  return 0;
}

int run_import(const Options& o) {
  auto cfg = load_config_or_report(o);
  if (!cfg) return 2;
  fixture::Cache cache(cfg->effective_cache_dir());
  fs::path staging;
  try {
    staging = cache.make_staging();
  } catch (const std::exception& e) {
    fmt::print(stderr, "provium fixture import: {}\n", e.what());
    return 1;
  }
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  } cleanup{staging};
  auto fail = [&](const std::string& why) {
    fmt::print(stderr, "provium fixture import: `{}`: {}; nothing was imported\n",
               o.fixture_archive, why);
    return 1;
  };
  archive* a = archive_read_new();
  archive_read_support_format_all(a);
  archive_read_support_filter_all(a);
  std::unique_ptr<archive, decltype(&archive_read_free)> guard(a, archive_read_free);
  if (archive_read_open_filename(a, o.fixture_archive.c_str(), 1 << 20) != ARCHIVE_OK)
    return fail(archive_error_string(a));
  nlohmann::json index;
  std::map<std::string, nlohmann::json> expected;  // name -> {bytes, sha256}
  archive_entry* e;
  int r;
  while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
    std::string name = archive_entry_pathname(e);
    if (index.is_null()) {
      if (name != kIndexName) return fail("not a provium fixture archive (no index first)");
      std::string text;
      char buf[65536];
      la_ssize_t n;
      while ((n = archive_read_data(a, buf, sizeof buf)) > 0)
        text.append(buf, static_cast<size_t>(n));
      index = nlohmann::json::parse(text, nullptr, false);
      if (!index.is_object() || index.value("format", "") != kExportFormat)
        return fail("its index is not a provium fixture export index");
      for (auto& en : index["entries"])
        for (auto& f : en["files"]) expected[f.value("name", "")] = f;
      continue;
    }
    auto it = expected.find(name);
    // Only names the index lists: no absolute paths, no "..", nothing outside the entries.
    if (it == expected.end() || name.find("..") != std::string::npos || name.starts_with("/"))
      return fail(fmt::format("it holds `{}`, which its index does not list", name));
    fs::path dest = staging / name;
    fs::create_directories(dest.parent_path());
    std::ofstream out(dest, std::ios::binary);
    util::Sha256 h;
    std::uint64_t bytes = 0;
    char buf[1 << 16];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0) {
      out.write(buf, n);
      h.update(std::string_view(buf, static_cast<size_t>(n)));
      bytes += static_cast<std::uint64_t>(n);
    }
    out.close();
    if (n < 0 || !out) return fail(fmt::format("cannot extract `{}`", name));
    if (bytes != it->second.value("bytes", std::uint64_t{0}) ||
        h.hex() != it->second.value("sha256", ""))
      return fail(fmt::format("`{}` does not match its checksum (damaged in transit?)", name));
    expected.erase(it);
  }
  if (r != ARCHIVE_EOF) return fail(archive_error_string(a));
  if (index.is_null()) return fail("it is empty");
  if (!expected.empty())
    return fail(fmt::format("`{}` is missing (truncated?)", expected.begin()->first));

  int imported = 0, present = 0;
  for (auto& en : index["entries"]) {
    std::string key = en.value("key", "");
    std::string kind = en.value("kind", "");
    if (cache.find(key)) {
      ++present;
      continue;
    }
    auto lock = fixture::BuildLock::acquire(cache.lock_path(key), [] { return true; });
    try {
      if (kind == "lab") {
        fs::path dir = staging / (key + ".lab");
        std::ifstream in(dir / "manifest.json");
        cache.install_lab(key, dir, nlohmann::json::parse(in));
      } else {
        std::ifstream in(staging / (key + ".json"));
        cache.install_vm(key, staging / (key + ".snap"), nlohmann::json::parse(in));
      }
    } catch (const std::exception& ex) {
      return fail(fmt::format("cannot install entry {}: {}", key.substr(0, 12), ex.what()));
    }
    ++imported;
  }
  fmt::print("imported {} entr{} into {}", imported, imported == 1 ? "y" : "ies",
             cache.dir().string());
  if (present) fmt::print(" ({} already present)", present);
  fmt::print("\n");
  return 0;
}

}  // namespace

int run_fixture_command(const Options& o) {
  switch (o.command) {
    case Command::FixtureList:
      return run_list_entries(o);
    case Command::FixtureBuild:
      return build_one(o, false);
    case Command::FixtureRebuild:
      return build_one(o, true);
    case Command::FixtureStale:
      return run_stale(o);
    case Command::FixtureExport:
      return run_export(o);
    case Command::FixtureImport:
      return run_import(o);
    default:
      return 2;
  }
}

}  // namespace provium::cli
