// zero_free_memory: a provium-internal op (not in REFERENCE §6) that the host sends just before
// it snapshots a VM. Pages the guest kernel has freed keep their old bytes, and QEMU's migration
// stream carries every page that is not all zeros, so a booted guest's snapshot would hold the
// compressed initramfs, init memory and unpack buffers it no longer uses. A child process takes
// the free memory in chunks (the kernel hands out anonymous pages zeroed), then exits and gives
// the now-zero pages back: the snapshot shrinks to the memory in use, and a restored VM never
// makes its host touch the rest. Unlike init_on_free=1 on the command line, boots pay nothing.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <limits>
#include <memory>

#include "agent/ops.hpp"
#include "agent/state.hpp"
#include "proto/protocol.hpp"

namespace provium::agent {
namespace {

using proto::Value;

constexpr std::size_t kChunk = 8u << 20;
constexpr int kMadvPopulateWrite = 23;  // MADV_POPULATE_WRITE, newer than some libc headers

// The child runs after fork() in a multi-threaded agent, so it sticks to system calls and
// plain code (no stdio, no malloc, which another thread may have held at the fork).

// The first number after `key` in the file at `path` (e.g. "MemFree:" in /proc/meminfo), or -1.
long long number_after(const char* path, const char* key) {
  char buf[4096];
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  const char* at = key[0] ? std::strstr(buf, key) : buf;
  if (!at) return -1;
  at += std::strlen(key);
  while (*at == ' ' || *at == '\t') ++at;
  if (*at < '0' || *at > '9') return -1;
  long long v = 0;
  for (; *at >= '0' && *at <= '9'; ++at) v = v * 10 + (*at - '0');
  return v;
}

// Runs in the child: takes free memory chunk by chunk, up to `budget` bytes and while more
// than a safety margin stays free (re-read every chunk, so a guest process allocating at the
// same time is never starved), faulting each page in so the kernel zeroes it. Returns the bytes
// taken.
std::size_t take_free_memory(long long budget) {
  if (int fd = ::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC); fd >= 0) {
    ssize_t w = ::write(fd, "1000", 4);  // under pressure the OOM killer picks us first
    (void)w;
    ::close(fd);
  }
  long long min_free = number_after("/proc/sys/vm/min_free_kbytes", "");
  long long margin = std::max(16LL << 20, min_free > 0 ? 4 * min_free * 1024 : 0);
  std::size_t taken = 0;
  while (static_cast<long long>(taken + kChunk) <= budget) {
    long long free_kib = number_after("/proc/meminfo", "MemFree:");
    long long free_now = free_kib < 0 ? -1 : free_kib * 1024;
    if (free_now < 0 || free_now < margin + static_cast<long long>(kChunk)) break;
    void* p = ::mmap(nullptr, kChunk, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) break;
    // One call faults the whole chunk in (Linux 5.14+); an emulated guest pays for every
    // user-space page fault, so this is much faster than touching each page, the fallback.
    if (::madvise(p, kChunk, kMadvPopulateWrite) != 0) {
      auto* bytes = static_cast<volatile char*>(p);
      for (std::size_t off = 0; off < kChunk; off += 4096) bytes[off] = 0;  // zero stays zero
    }
    taken += kChunk;
  }
  return taken;  // the mappings go back to the kernel, zeroed, when the process exits
}

void op_zero_free_memory(Request& r) {
  if (!serving_vm_guest()) {  // on a host (local sandbox) "free memory" is the host's
    r.send("agent_error",
           proto::agent_error("unsupported", "zero_free_memory runs only in a VM guest"));
    return;
  }
  // The host may say how much of the guest's RAM it backs (resident_bytes of ram_bytes). Pages
  // it never backed are zero; in-use pages are resident too, so resident - in use ~ the free
  // pages that may hold old bytes, which the kernel's allocator hands out first (recently
  // freed pages go to the head of its free lists, boot memory to the tail). 16 MiB of slack.
  long long budget = std::numeric_limits<long long>::max();
  long long free_kib = number_after("/proc/meminfo", "MemFree:");
  if (free_kib >= 0 && proto::opt_field(r.payload, "resident_bytes") &&
      proto::opt_field(r.payload, "ram_bytes")) {
    long long in_use = proto::int_field(r.payload, "ram_bytes") - free_kib * 1024;
    budget = proto::int_field(r.payload, "resident_bytes") - in_use + (16LL << 20);
  }
  auto t0 = std::chrono::steady_clock::now();
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw OsError{errno, "pipe"};
  auto proc = std::make_shared<Process>();
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(p[0]);
    ::close(p[1]);
    throw OsError{e, "fork"};
  }
  if (pid == 0) {
    ::close(p[0]);
    std::size_t taken = take_free_memory(budget);
    ssize_t w = ::write(p[1], &taken, sizeof taken);
    (void)w;
    ::_exit(0);
  }
  ::close(p[1]);
  proc->pid = pid;
  State::get().watch_pid(pid, proc);  // the agent's one reaper thread owns every wait
  kick_reaper();
  std::size_t taken = 0;
  ssize_t n;
  while ((n = ::read(p[0], &taken, sizeof taken)) < 0 && errno == EINTR) {
  }
  ::close(p[0]);
  {
    // Wait for the exit itself: only then are the child's (zeroed) pages free again, and a
    // child still alive at snapshot time would be restored into every clone.
    std::unique_lock lk(proc->mu);
    proc->cv.wait_for(lk, std::chrono::seconds(5), [&] { return proc->wait_status.has_value(); });
  }
  if (n != static_cast<ssize_t>(sizeof taken)) taken = 0;  // killed (OOM) before it reported
  proto::Map m;
  m["zeroed_bytes"] = Value{static_cast<std::int64_t>(taken)};
  m["ms"] = Value{static_cast<std::int64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count())};
  r.reply(proto::op_ok(Value{std::move(m)}));
}

}  // namespace

void register_memory_ops(Registry& reg) { reg["zero_free_memory"] = op_zero_free_memory; }

}  // namespace provium::agent
