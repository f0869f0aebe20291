#include "vmm/local/seccomp_filter.hpp"

#include <errno.h>
#include <fmt/format.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <stdexcept>

namespace provium::vmm::local {

namespace {

// Refused with EPERM.
const std::vector<const char*>& sandbox_denied_syscalls() {
  // The user namespace already refuses most host-wide operations (clock, modules, mknod,
  // reboot, swap, raw I/O) because they check capabilities in the initial namespace. These
  // are the ones it does not cover, or where a second wall is cheap:
  //  - keyctl/add_key/request_key: kernel keyrings are per *user*, and the sandbox's root is
  //    the host's uid 0, so it would share the host root's user keyring;
  //  - syslog: the host kernel's log is not the sandbox's, and reading it misleads a test;
  //  - module and kexec calls, as defence in depth.
  static const std::vector<const char*> names = {"keyctl",        "add_key",     "request_key",
                                                 "syslog",        "init_module", "finit_module",
                                                 "delete_module", "kexec_load",  "kexec_file_load"};
  return names;
}

std::vector<sock_filter> build() {
  std::unique_ptr<void, void (*)(scmp_filter_ctx)> ctx(seccomp_init(SCMP_ACT_ALLOW),
                                                       seccomp_release);
  if (!ctx) throw std::runtime_error("local: seccomp_init failed");
  // Rules apply to the compat ABIs too, so a 32-bit call cannot step around them.
  for (std::uint32_t arch : {SCMP_ARCH_X86, SCMP_ARCH_X32}) {
    if (seccomp_arch_native() != SCMP_ARCH_X86_64) break;
    int rc = seccomp_arch_add(ctx.get(), arch);
    if (rc != 0 && rc != -EEXIST)
      throw std::runtime_error(fmt::format("local: seccomp_arch_add: {}", std::strerror(-rc)));
  }
  for (const char* name : sandbox_denied_syscalls()) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture
    int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(EPERM), nr, 0);
    if (rc != 0)
      throw std::runtime_error(
          fmt::format("local: seccomp rule for {}: {}", name, std::strerror(-rc)));
  }
  int fd = ::memfd_create("provium-seccomp", MFD_CLOEXEC);
  if (fd < 0) throw std::runtime_error(fmt::format("local: memfd: {}", std::strerror(errno)));
  int rc = seccomp_export_bpf(ctx.get(), fd);
  off_t size = ::lseek(fd, 0, SEEK_END);
  std::vector<sock_filter> prog;
  if (rc == 0 && size > 0 && size % static_cast<off_t>(sizeof(sock_filter)) == 0) {
    prog.resize(static_cast<std::size_t>(size) / sizeof(sock_filter));
    if (::pread(fd, prog.data(), static_cast<std::size_t>(size), 0) != size) prog.clear();
  }
  ::close(fd);
  if (prog.empty())
    throw std::runtime_error(fmt::format("local: cannot export the seccomp filter ({})",
                                         rc != 0 ? std::strerror(-rc) : "empty program"));
  return prog;
}

}  // namespace

const std::vector<sock_filter>& sandbox_seccomp_program() {
  static const std::vector<sock_filter> prog = build();
  return prog;
}

}  // namespace provium::vmm::local
