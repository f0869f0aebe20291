#include "vmm/qemu/initrd.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <stdexcept>

#include "util/host.hpp"
#include "util/sha256.hpp"

namespace provium::vmm::qemu {

namespace fs = std::filesystem;

std::string find_agent_overlay(const std::optional<fs::path>& profile_overlay) {
  std::vector<std::string> tried;
  auto usable = [&](const fs::path& p) {
    tried.push_back(p.string());
    return ::access(p.c_str(), R_OK) == 0;
  };
  if (profile_overlay && usable(*profile_overlay)) return profile_overlay->string();
  if (const char* env = std::getenv("PROVIUM_OVERLAY"); env && *env && usable(env)) return env;
  fs::path exe = util::self_dir();
  if (!exe.empty()) {
    if (usable(exe / "../share/provium/agent-overlay.cpio.gz"))
      return fs::weakly_canonical(exe / "../share/provium/agent-overlay.cpio.gz").string();
    fs::path dir = exe;
    for (int up = 0; up <= 6 && !dir.empty(); ++up, dir = dir.parent_path()) {
      if (usable(dir / "dist/agent-overlay.cpio.gz"))
        return (dir / "dist/agent-overlay.cpio.gz").string();
      if (dir == dir.parent_path()) break;
    }
  }
  std::string list;
  for (auto& t : tried) list += (list.empty() ? "" : ", ") + t;
  throw std::runtime_error(fmt::format(
      "agent overlay not found (tried {}); build it (target agent-overlay) or set PROVIUM_OVERLAY",
      list));
}

namespace {

void copy_into(std::ofstream& out, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error(fmt::format("cannot read `{}`: {}", path, std::strerror(errno)));
  out << in.rdbuf();
}

void pad4(std::ofstream& out) {
  auto pos = static_cast<std::uint64_t>(out.tellp());
  static const char zeros[4] = {};
  if (pos % 4) out.write(zeros, static_cast<std::streamsize>(4 - pos % 4));
}

std::string unique_tmp(const fs::path& final_path) {
  return fmt::format("{}.tmp.{}.{}", final_path.string(), ::getpid(), std::rand());
}

}  // namespace

std::string merged_initrd(const std::optional<fs::path>& initrd, const std::string& overlay,
                          const fs::path& cache_dir) {
  if (!initrd || initrd->empty()) return overlay;
  // A digest of the two digests names the entry: same inputs, same file, from any process.
  std::string name = util::sha256_hex(util::sha256_file_memo(initrd->string()) +
                                      util::sha256_file_memo(overlay));
  fs::path dest = cache_dir / (name + ".cpio.gz");
  if (fs::exists(dest)) return dest.string();
  std::error_code ec;
  fs::create_directories(cache_dir, ec);
  if (ec)
    throw std::runtime_error(
        fmt::format("cannot create `{}`: {}", cache_dir.string(), ec.message()));
  std::string tmp = unique_tmp(dest);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      throw std::runtime_error(fmt::format("cannot write `{}`: {}", tmp, std::strerror(errno)));
    copy_into(out, initrd->string());
    pad4(out);
    copy_into(out, overlay);
    if (!out.flush()) {
      fs::remove(tmp, ec);
      throw std::runtime_error(fmt::format("cannot write `{}` (disk full?)", tmp));
    }
  }
  fs::rename(tmp, dest, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw std::runtime_error(fmt::format("cannot install `{}`: {}", dest.string(), ec.message()));
  }
  return dest.string();
}

void append_files_segment(const std::string& base, const std::vector<BootFile>& files,
                          const std::string& out_path) {
  std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
  if (!out)
    throw std::runtime_error(fmt::format("cannot write `{}`: {}", out_path, std::strerror(errno)));
  copy_into(out, base);
  pad4(out);

  std::string segment;
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(),
                                                            archive_write_free);
  archive_write_set_format_cpio_newc(a.get());
  archive_write_set_bytes_in_last_block(a.get(), 1);
  auto writer = [](struct archive*, void* user, const void* buf, size_t n) -> la_ssize_t {
    static_cast<std::string*>(user)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  };
  if (archive_write_open(a.get(), &segment, nullptr, writer, nullptr) != ARCHIVE_OK)
    throw std::runtime_error(fmt::format("boot files: {}", archive_error_string(a.get())));
  std::set<std::string> dirs;
  auto add = [&](const std::string& name, mode_t type, std::uint32_t perm,
                 const std::string* body) {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(),
                                                                    archive_entry_free);
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), type);
    archive_entry_set_perm(e.get(), perm);
    archive_entry_set_size(e.get(), body ? static_cast<la_int64_t>(body->size()) : 0);
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK ||
        (body && archive_write_data(a.get(), body->data(), body->size()) < 0))
      throw std::runtime_error(
          fmt::format("boot files: {}: {}", name, archive_error_string(a.get())));
  };
  for (auto& f : files) {
    std::string rel = f.path.substr(f.path.find_first_not_of('/'));
    for (auto slash = rel.find('/'); slash != std::string::npos; slash = rel.find('/', slash + 1)) {
      std::string d = rel.substr(0, slash);
      if (dirs.insert(d).second) add(d, AE_IFDIR, 0755, nullptr);
    }
    add(rel, AE_IFREG, f.mode, &f.content);
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK)
    throw std::runtime_error(fmt::format("boot files: {}", archive_error_string(a.get())));
  out.write(segment.data(), static_cast<std::streamsize>(segment.size()));
  if (!out.flush())
    throw std::runtime_error(fmt::format("cannot write `{}` (disk full?)", out_path));
}

}  // namespace provium::vmm::qemu
