// `provium console PROFILE` (REFERENCE §2.3): the profile's kernel under QEMU with the serial
// console on this terminal (`-serial mon:stdio`: Ctrl-A X quits, Ctrl-A C opens the monitor),
// no QMP, agent or Lua. --agent injects the overlay and the agent's virtio-serial port;
// --print-command prints the QEMU command instead of running it.
#include <fmt/format.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "cli/commands.hpp"
#include "config/build.hpp"
#include "config/config.hpp"
#include "config/kernel.hpp"
#include "util/host.hpp"
#include "vmm/qemu/command_line.hpp"
#include "vmm/qemu/host_caps.hpp"
#include "vmm/qemu/initrd.hpp"

namespace provium::cli {
namespace {

std::string shell_quote(const std::string& s) {
  if (!s.empty() &&
      s.find_first_not_of(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@") ==
          std::string::npos)
    return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

int run_console(const Options& o) {
  auto loaded = load_config_or_report(o);
  if (!loaded) return 2;
  config::Config& cfg = *loaded;
  const config::Profile* found = find_profile_or_report(cfg, *o.profile, "console");
  if (!found) return 2;
  const config::Profile& p = *found;
  if (!o.no_build)
    if (auto err = config::run_build(p)) {
      fmt::print(stderr, "{}\n", *err);
      return 2;
    }
  using namespace vmm::qemu;
  try {
    CmdlineParts parts;
    if (p.cmdline_file) {
      std::ifstream in(*p.cmdline_file);
      std::stringstream ss;
      ss << in.rdbuf();
      parts.file_contents = ss.str();
    }
    parts.inline_cmdline = p.cmdline;
    parts.replacement = o.console_cmdline;
    parts.inject_agent = o.console_agent && p.inject_agent;
    std::string cmdline = assemble_cmdline(parts);
    if (!o.console_agent) {
      // No agent: drop the transport word assemble_cmdline adds for it.
      auto at = cmdline.rfind(" provium.transport=");
      if (at != std::string::npos) cmdline.erase(at);
    }
    const std::string kernel = config::resolve_kernel(p).string();  // after the build made it
    std::string initrd = p.initrd ? p.initrd->string() : "";
    if (o.console_agent && p.inject_agent) {
      initrd = merged_initrd(
          p.initrd, find_agent_overlay(p.agent_overlay_path),
          std::filesystem::path(util::temp_dir()) / "provium-qemu/agent-overlay-cache");
    }
    Accel accel = choose_accel(o.accel);
    std::uint64_t mib = o.console_mem.value_or(512ull << 20) >> 20;
    std::vector<std::string> argv = {
        o.console_qemu.value_or("qemu-system-x86_64"),
        "-M",
        fmt::format("q35,accel={}", accel == Accel::Kvm ? "kvm" : "tcg"),
        "-cpu",
        accel == Accel::Kvm ? "host" : "max",
        "-m",
        fmt::format("{}M", mib),
        "-smp",
        std::to_string(o.console_cpus.value_or(1)),
        "-nodefaults",
        "-no-reboot",
        "-display",
        "none",
        "-serial",
        "mon:stdio",
        "-kernel",
        kernel};
    if (!initrd.empty()) argv.insert(argv.end(), {"-initrd", initrd});
    argv.insert(argv.end(), {"-append", cmdline, "-device", "virtio-rng-pci"});
    if (o.console_agent)
      argv.insert(
          argv.end(),
          {"-device", "virtio-serial-pci,id=pvser0", "-chardev",
           fmt::format("socket,id=pvagent0,path=/tmp/provium-console-{}.sock,server=on,wait=off",
                       ::getpid()),
           "-device", "virtserialport,bus=pvser0.0,chardev=pvagent0,name=org.provium.agent.0"});
    argv.insert(argv.end(), o.console_qemu_args.begin(), o.console_qemu_args.end());
    if (o.console_print_command) {
      std::string line;
      for (auto& a : argv) line += (line.empty() ? "" : " ") + shell_quote(a);
      fmt::print("{}\n", line);
      return 0;
    }
    if (util::find_on_path(argv[0]).empty() && argv[0].find('/') == std::string::npos) {
      fmt::print(
          stderr,
          "provium console: `{}` not found on PATH; install qemu-system-x86 or pass --qemu\n",
          argv[0]);
      return 2;
    }
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    ::execvp(cargv[0], cargv.data());
    fmt::print(stderr, "provium console: cannot run `{}`: {}\n", argv[0], std::strerror(errno));
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "provium console: {}\n", e.what());
    return 2;
  }
}

}  // namespace provium::cli
