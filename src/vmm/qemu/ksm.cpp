#include "vmm/qemu/ksm.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>

namespace provium::vmm::qemu {

namespace {

constexpr const char* kLock = "/tmp/provium-ksm.lock";
constexpr const char* kSaved = "/tmp/provium-ksm.saved";
constexpr const char* kDir = "/sys/kernel/mm/ksm/";
struct Knob {
  const char* name;
  const char* value;
};
constexpr Knob kKnobs[] = {{"run", "1"}, {"pages_to_scan", "1000"}, {"sleep_millisecs", "20"}};

int lock_fd = -1;

bool write_knob(const std::string& name, const std::string& value) {
  std::ofstream out(std::string(kDir) + name);
  out << value;
  out.flush();
  return static_cast<bool>(out);
}

std::string read_knob(const std::string& name) {
  std::ifstream in(std::string(kDir) + name);
  std::string v;
  in >> v;
  return v;
}

void restore_at_exit() {
  if (lock_fd < 0) return;
  // Only the last user restores: everyone else still holds the lock shared.
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) == 0) {
    std::ifstream saved(kSaved);
    std::string name, value;
    while (saved >> name >> value) write_knob(name, value);
    ::unlink(kSaved);
  }
  ::close(lock_fd);
  lock_fd = -1;
}

void tune() {
  if (::access(kDir, F_OK) != 0) {
    std::fprintf(stderr, "provium: ksm: not tuned (no %s)\n", kDir);
    return;
  }
  lock_fd = ::open(kLock, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (lock_fd < 0) {
    std::fprintf(stderr, "provium: ksm: not tuned (cannot open %s)\n", kLock);
    return;
  }
  // Exclusive while saving (the first process records the host's own values), then shared.
  ::flock(lock_fd, LOCK_EX);
  if (::access(kSaved, F_OK) != 0) {
    std::ofstream saved(kSaved);
    for (auto& k : kKnobs) saved << k.name << ' ' << read_knob(k.name) << '\n';
  }
  int tuned = 0;
  for (auto& k : kKnobs) tuned += write_knob(k.name, k.value);
  ::flock(lock_fd, LOCK_SH);
  std::atexit(restore_at_exit);
  if (tuned == 3)
    std::fprintf(stderr, "provium: ksm: tuned (3 knobs)\n");
  else if (tuned > 0)
    std::fprintf(stderr, "provium: ksm: partially tuned (%d of 3 knobs)\n", tuned);
  else
    std::fprintf(stderr, "provium: ksm: not tuned (the knobs are not writable)\n");
}

}  // namespace

void ksm_tune_once() {
  static std::once_flag once;
  std::call_once(once, tune);
}

}  // namespace provium::vmm::qemu
