#include "agent/init.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <linux/input.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "agent/io.hpp"
#include "proto/protocol.hpp"

namespace provium::agent {

void mount_basics() {
  struct M {
    const char *src, *dst, *type;
    unsigned long flags;
    const char* data;
  };
  const M mounts[] = {{"devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"},
                      {"proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr},
                      {"sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr},
                      {"devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "mode=0620,ptmxmode=0666"},
                      {"tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"},
                      {"tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"}};
  for (auto& m : mounts) {
    ::mkdir(m.dst, 0755);
    ::mount(m.src, m.dst, m.type, m.flags, m.data);  // EBUSY: already mounted, fine
  }
}

namespace {

std::string base_name(const std::string& ko_path) {
  std::string b = ko_path.substr(ko_path.rfind('/') + 1);
  b = b.substr(0, b.find(".ko"));
  for (char& c : b)
    if (c == '-') c = '_';
  return b;
}

}  // namespace

std::vector<std::string> load_modules(const std::vector<std::string>& names) {
  std::vector<std::string> problems;
  struct utsname u {};
  ::uname(&u);
  std::string dir = std::string("/lib/modules/") + u.release + "/";
  std::ifstream dep(dir + "modules.dep");
  if (!dep) return problems;  // no modules shipped: everything is built in
  std::map<std::string, std::pair<std::string, std::vector<std::string>>> table;  // name -> (path, deps)
  std::string line;
  while (std::getline(dep, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string path = line.substr(0, colon);
    std::istringstream rest(line.substr(colon + 1));
    std::vector<std::string> deps;
    std::string d;
    while (rest >> d) deps.push_back(d);
    table[base_name(path)] = {path, deps};
  }
  std::set<std::string> done;
  std::function<void(const std::string&)> load = [&](const std::string& path) {
    std::string name = base_name(path);
    if (!done.insert(name).second) return;
    auto it = table.find(name);
    if (it != table.end())
      for (auto& d : it->second.second) load(d);
    std::string full = path.starts_with("/") ? path : dir + path;
    Fd fd(::open(full.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
      problems.push_back(full + ": " + std::strerror(errno));
      return;
    }
    if (::syscall(SYS_finit_module, fd.get(), "", 0) != 0 && errno != EEXIST)
      problems.push_back(name + ": " + std::strerror(errno));
  };
  for (auto& n : names) {
    auto it = table.find(n);
    if (it != table.end()) load(it->second.first);  // absent from modules.dep: built in or not needed
  }
  return problems;
}

std::string cmdline_transport() {
  std::ifstream in("/proc/cmdline");
  std::string word;
  while (in >> word)
    if (word.starts_with("provium.transport=")) return word.substr(18);
  return "virtio-serial";
}

int open_virtio_port() {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    if (DIR* d = ::opendir("/sys/class/virtio-ports")) {
      while (auto* e = ::readdir(d)) {
        std::string port = e->d_name;
        if (port[0] == '.') continue;
        std::ifstream n("/sys/class/virtio-ports/" + port + "/name");
        std::string name;
        std::getline(n, name);
        if (name == proto::kVirtioPortName) {
          ::closedir(d);
          return ::open(("/dev/" + port).c_str(), O_RDWR | O_CLOEXEC);
        }
      }
      ::closedir(d);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

int listen_vsock(int port) {
  int fd = ::socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_vm addr{};
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = VMADDR_CID_ANY;
  addr.svm_port = static_cast<unsigned>(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 4) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::vector<std::string> image_modules() {
  std::vector<std::string> names;
  std::ifstream in("/etc/provium/modules");
  std::string name;
  while (in >> name)
    if (!name.starts_with("#")) names.push_back(name);
  return names;
}

namespace {

// Opens every /dev/input/event* not opened yet; returns how many it added.
size_t open_new_input_devices(std::vector<int>& fds, std::set<std::string>& seen) {
  size_t added = 0;
  if (DIR* d = ::opendir("/dev/input")) {
    while (auto* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (!n.starts_with("event") || !seen.insert(n).second) continue;
      int fd = ::open(("/dev/input/" + n).c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
      if (fd >= 0) {
        fds.push_back(fd);
        ++added;
      }
    }
    ::closedir(d);
  }
  return added;
}

}  // namespace

void watch_power_button() {
  // evdev queues events only for readers that already have the device open, so a press that
  // comes before the open is lost. The devices of the modules loaded so far are opened here,
  // before the agent answers its first hello, so the host can never press too early.
  auto fds = std::make_shared<std::vector<int>>();
  auto seen = std::make_shared<std::set<std::string>>();
  open_new_input_devices(*fds, *seen);
  std::thread([fds, seen] {
    // Devices of drivers that bind late still appear for a while; look, then keep what we have.
    for (int round = 0; round < 100; ++round) {
      open_new_input_devices(*fds, *seen);
      if (!fds->empty() && round > 20) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    while (!fds->empty()) {
      std::vector<pollfd> p;
      for (int fd : *fds) p.push_back({fd, POLLIN, 0});
      if (::poll(p.data(), p.size(), -1) <= 0) continue;
      for (auto& q : p) {
        if (!(q.revents & POLLIN)) continue;
        input_event ev{};
        while (::read(q.fd, &ev, sizeof ev) == sizeof ev)
          if (ev.type == EV_KEY && ev.code == KEY_POWER && ev.value == 1) power_off();
      }
    }
  }).detach();
}

void power_off() {
  ::sync();
  ::reboot(RB_POWER_OFF);
  ::_exit(0);
}

}  // namespace provium::agent
