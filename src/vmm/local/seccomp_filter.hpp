// The seccomp filter of the local sandbox: what its namespaces do not cover. Built once with
// libseccomp in the parent (the sandbox's child processes may not allocate) and installed by
// the sandbox's init right before it execs the agent.
#pragma once

#include <linux/filter.h>

#include <vector>

namespace provium::vmm::local {

/// The compiled BPF program (native arch plus its compat arches). Throws std::runtime_error
/// when libseccomp cannot build it.
const std::vector<sock_filter>& sandbox_seccomp_program();

}  // namespace provium::vmm::local
