// The `--vmm local` sandbox (REFERENCE §7.9, issue 15): the agent runs as PID 1 of its own
// pid namespace, over a copy-on-write view of the host root, as root of a user namespace that
// maps root to root but owns only the sandbox's namespaces. Capabilities therefore reach the
// sandbox's mounts, network, hostname and IPC, never the host's clock, modules, devices,
// sysctls or processes.
//
// Namespaces and mounts, in the order they are made (`C` is a helper that stays outside as
// real root, `G` becomes the agent):
//   1. C: a private mount namespace; the overlay root, a minimal /dev (null zero full random
//      urandom tty, a private devpts, shm, fd links), tmpfs /tmp and /run, the agent bound
//      read-only, the boot files.
//   2. G = clone(user u1, mount m1, pid): m1 is a copy of C's namespace, so everything of step
//      1 is locked (cannot be unmounted or made writable from inside). C writes u1's id map.
//   3. G: /proc of its pid namespace, with /proc/sys, bus, fs, irq, sysrq-trigger read-only
//      (/proc/sys/net stays writable: it is the sandbox's own network) and kernel-wide
//      entries masked. Then a second user namespace u2 with the network, UTS and IPC
//      namespaces it owns: the sandbox's root (in u2) configures its own network but has no
//      say over m1's mounts.
//   4. C (root over u1 and u2): writes u2's id map, joins m1 and the new network namespace,
//      mounts a read-only sysfs showing that network, and pivots m1's root into the overlay
//      (the host's tree is detached).
//   5. G: a mount namespace m2 owned by u2 (m1's mounts locked inside it), the seccomp
//      filter, stdout/stderr to the console log, exec of the agent on fd 3.
// Two user namespaces are needed because a read-only mount made in the namespace that runs
// the guest could be remounted writable by the guest's root, and the kernel-wide sysctls and
// sysfs attributes are writable by anyone whose euid is the host's root.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace provium::vmm::local {

struct SandboxFile {
  std::string path;  // absolute, inside the sandbox
  std::string content;
  unsigned mode = 0644;
};

struct SandboxSpec {
  std::string scratch;   // holds upper/, work/, root/ and console.log
  std::string agent;     // host path of provium-agent
  std::string hostname;  // at most 63 bytes
  std::vector<SandboxFile> files;
  double timeout_s = 10.0;  // until the agent has been exec'ed
};

/// Starts a sandbox whose agent serves `agent_fd` (the child's end of a socketpair; the caller
/// closes its own copy afterwards). Returns the pid of the outside helper C: it leads the
/// sandbox's process group and shares its network namespace. Throws std::runtime_error with
/// one line naming the step that failed and how to fix it; nothing is left running then.
pid_t start_sandbox(const SandboxSpec& spec, int agent_fd);

/// Ends a sandbox started by start_sandbox (every process in it) and reaps the helper.
void stop_sandbox(pid_t helper);

}  // namespace provium::vmm::local
