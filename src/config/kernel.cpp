#include "config/kernel.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <system_error>
#include <vector>

namespace provium::config {
namespace {

// Follows `p` through symlinks the way the guest would see them: absolute targets are inside
// `root`, not on the host. Returns the regular file it leads to, or an empty path.
fs::path follow_in_tree(const fs::path& root, fs::path p) {
  std::error_code ec;
  for (int hops = 0; hops < 16; ++hops) {
    auto st = fs::symlink_status(p, ec);
    if (ec) return {};
    if (fs::is_regular_file(st)) return p;
    if (!fs::is_symlink(st)) return {};
    fs::path target = fs::read_symlink(p, ec);
    if (ec) return {};
    p = (target.is_absolute() ? root / target.relative_path() : p.parent_path() / target)
            .lexically_normal();
  }
  return {};
}

struct Candidate {
  std::string shown;  // root-relative, for messages
  fs::path file;      // the regular file
};

// Kernel-install layout: usr/lib/modules/<release>/vmlinuz.
std::vector<Candidate> module_kernels(const fs::path& root) {
  std::vector<Candidate> out;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(root / "usr/lib/modules", ec)) {
    std::string release = e.path().filename().string();
    fs::path f = follow_in_tree(root, e.path() / "vmlinuz");
    if (!f.empty()) out.push_back({"usr/lib/modules/" + release + "/vmlinuz", f});
  }
  return out;
}

// Traditional layout: boot/vmlinuz-<release>.
std::vector<Candidate> boot_kernels(const fs::path& root) {
  std::vector<Candidate> out;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(root / "boot", ec)) {
    std::string name = e.path().filename().string();
    if (!name.starts_with("vmlinuz-") || name.size() == 8) continue;
    fs::path f = follow_in_tree(root, e.path());
    if (!f.empty()) out.push_back({"boot/" + name, f});
  }
  return out;
}

}  // namespace

fs::path resolve_kernel(const Profile& p) {
  if (!p.kernel.empty()) return p.kernel;
  if (!p.root || p.root->empty())
    throw KernelError(fmt::format("profile `{}` has no `kernel` or `root`", p.name));
  const fs::path& root = *p.root;
  for (auto* layout : {&module_kernels, &boot_kernels}) {
    auto found = (*layout)(root);
    if (found.empty()) continue;
    std::sort(found.begin(), found.end(),
              [](const Candidate& a, const Candidate& b) { return a.shown < b.shown; });
    if (found.size() == 1) return found.front().file;
    std::string names;
    for (auto& c : found) names += (names.empty() ? "" : ", ") + c.shown;
    throw KernelError(fmt::format(
        "profile `{}`: several kernels under root `{}`: {}; set `kernel` to one of them", p.name,
        root.string(), names));
  }
  std::error_code ec;
  std::string missing = fs::is_directory(root, ec) ? ""
                        : fs::exists(root, ec)     ? "it is not a directory; "
                                                   : "the directory does not exist; ";
  throw KernelError(fmt::format(
      "profile `{}`: no kernel under root `{}` ({}looked for usr/lib/modules/*/vmlinuz and "
      "boot/vmlinuz-*); set `kernel` or build the tree",
      p.name, root.string(), missing));
}

}  // namespace provium::config
