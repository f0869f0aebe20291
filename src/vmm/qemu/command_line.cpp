#include "vmm/qemu/command_line.hpp"

#include <fmt/format.h>

#include <ctime>
#include <sstream>
#include <stdexcept>

namespace provium::vmm::qemu {

const char* transport_name(Transport t) {
  return t == Transport::Vsock ? "vsock" : "virtio-serial";
}

namespace {

std::string collapse_whitespace(const std::string& s) {
  std::istringstream in(s);
  std::string word, out;
  while (in >> word) {
    if (!out.empty()) out += ' ';
    out += word;
  }
  return out;
}

std::optional<std::string> word_value(const std::string& cmdline, const std::string& key) {
  std::istringstream in(cmdline);
  std::string word;
  std::optional<std::string> found;
  while (in >> word)
    if (word.starts_with(key)) found = word.substr(key.size());
  return found;
}

void join(std::string& line, const std::string& part) {
  std::string p = collapse_whitespace(part);
  if (p.empty()) return;
  if (!line.empty()) line += ' ';
  line += p;
}

}  // namespace

std::string assemble_cmdline(const CmdlineParts& p) {
  std::string line;
  if (p.replacement) {
    join(line, *p.replacement);
  } else {
    join(line, p.file_contents);
    join(line, p.inline_cmdline);
  }
  if (p.append) join(line, *p.append);
  std::istringstream words(line);
  std::string w;
  bool has_console = false;
  while (words >> w)
    if (w.starts_with("console=ttyS0")) has_console = true;
  if (!has_console) join(line, "console=ttyS0");
  if (p.inject_agent) {
    auto rd = word_value(line, "rdinit=");
    if (rd && *rd != "/sbin/provium-agent")
      throw std::runtime_error(fmt::format(
          "kernel command line sets rdinit={} but the agent is injected; remove it, or set "
          "inject_agent = false in the profile and start /sbin/provium-agent from your init",
          *rd));
    if (!rd) join(line, "rdinit=/sbin/provium-agent");
  }
  join(line, std::string("provium.transport=") + transport_name(p.transport));
  return line;
}

std::string rtc_base(std::int64_t epoch_seconds) {
  std::time_t t = static_cast<std::time_t>(epoch_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

std::vector<std::string> qemu_argv(const LaunchSpec& s) {
  bool kvm = s.accel == Accel::Kvm;
  std::vector<std::string> a = {s.qemu,
                                "-M",
                                fmt::format("q35,accel={},memory-backend=mem", kvm ? "kvm" : "tcg"),
                                "-cpu",
                                kvm ? "host" : "max",
                                "-m",
                                fmt::format("{}M", s.memory_mib),
                                "-smp",
                                std::to_string(s.cpus),
                                "-nodefaults",
                                "-no-reboot",
                                "-nographic",
                                "-kernel",
                                s.kernel,
                                "-initrd",
                                s.initrd,
                                "-append",
                                s.cmdline,
                                "-object",
                                fmt::format("memory-backend-ram,id=mem,size={}M,merge={}",
                                            s.memory_mib, s.ksm_merge ? "on" : "off")};
  if (s.transport == Transport::Vsock) {
    a.insert(a.end(), {"-device", fmt::format("vhost-vsock-pci,guest-cid={}", s.cid)});
  } else {
    a.insert(a.end(),
             {"-device", "virtio-serial-pci,id=pvser0", "-chardev",
              fmt::format("socket,id=pvagent0,path={}/agent.sock,server=on,wait=off", s.scratch),
              "-device",
              "virtserialport,bus=pvser0.0,chardev=pvagent0,id=pvport0,name=org.provium.agent.0"});
  }
  a.insert(a.end(), {"-qmp", fmt::format("unix:{}/qmp.sock,server=on,wait=off", s.scratch)});
  a.insert(a.end(), {"-chardev",
                     fmt::format("socket,id=conserial0,path={0}/console.sock,server=on,wait=off,"
                                 "logfile={0}/console.log,logappend=on",
                                 s.scratch),
                     "-serial", "chardev:conserial0"});
  if (s.initial_time)
    a.insert(a.end(), {"-rtc", fmt::format("base={},clock=host", rtc_base(*s.initial_time))});
  if (s.rng_seed)
    a.insert(a.end(),
             {"-fw_cfg", fmt::format("name=opt/provium/rng-seed,string={:016x}", *s.rng_seed)});
  // Entropy for the guest's RNG: without it an early getrandom() in the guest can block.
  a.insert(a.end(), {"-device", "virtio-rng-pci"});
  if (s.incoming) a.insert(a.end(), {"-incoming", "defer"});
  for (auto& d : s.drives) {
    std::string file;  // QEMU's option syntax escapes a comma by doubling it
    for (char c : d.file) file += c == ',' ? std::string(",,") : std::string(1, c);
    a.insert(a.end(), {"-drive",
                       fmt::format("if=none,id={},format={},file={}{}", d.id,
                                   d.backing.empty() ? "raw" : "qcow2", file,
                                   d.readonly ? ",readonly=on" : ""),
                       "-device", fmt::format("virtio-blk-pci,drive={}", d.id)});
  }
  // Lab NICs: a stream socket to provium's pump for the NIC (frames as length + bytes), which
  // carries them to the bridge port in the file's network namespace.
  for (auto& n : s.nics)
    a.insert(a.end(), {"-netdev", fmt::format("socket,id={},fd={}", n.id, n.tap_fd), "-device",
                       fmt::format("virtio-net-pci,netdev={0},mac={1},id={0}-dev", n.id, n.mac)});
  return a;
}

}  // namespace provium::vmm::qemu
