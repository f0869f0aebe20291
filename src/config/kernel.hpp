// Locating a profile's kernel at boot (REFERENCE §3.3): `kernel` when set, else the one kernel
// inside the profile's composed `root` tree. The tree is usually made by the profile's `build`,
// so this runs when a VM boots (or a console starts), never at config load or listing.
#pragma once

#include <filesystem>
#include <stdexcept>

#include "config/config.hpp"

namespace provium::config {

/// Why a profile's kernel cannot be located; `what()` is the full one-line message.
class KernelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The kernel a boot of `p` uses: `p.kernel` when set (not checked for existence here), else
/// the single `<root>/usr/lib/modules/<release>/vmlinuz` (the kernel-install layout), else the
/// single `<root>/boot/vmlinuz-<release>`. Symlinks inside the tree resolve against the tree,
/// so the returned path is the file itself. Throws KernelError when there is no candidate or
/// several in the first layout that has any.
fs::path resolve_kernel(const Profile& p);

}  // namespace provium::config
