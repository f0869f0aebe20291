#include "vmm/qemu/qemu_backend.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "client/batch.hpp"
#include "config/kernel.hpp"
#include "util/file_memo.hpp"
#include "util/host.hpp"
#include "vmm/qemu/boot_options.hpp"
#include "vmm/qemu/host_caps.hpp"
#include "vmm/qemu/initrd.hpp"
#include "vmm/qemu/ksm.hpp"
#include "vmm/qemu/qemu_machine.hpp"
#include "vmm/qemu/snapshot_file.hpp"
#include "vmm/spawner.hpp"

namespace provium::vmm::qemu {
namespace {

namespace fs = std::filesystem;

std::atomic<std::uint32_t> next_cid{100};

fs::path tmp_root() { return fs::path(util::temp_dir()) / "provium-qemu"; }

void require_readable(const fs::path& p, const std::string& what, const std::string& profile) {
  if (::access(p.c_str(), R_OK) != 0)
    throw std::runtime_error(
        fmt::format("profile `{}`: {} `{}`: {}; fix the path in provium.toml or build the profile",
                    profile, what, p.string(), std::strerror(errno)));
}

std::string read_whole(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Allocates a CID and its scratch directory: mkdir (not recursive) is the claim, so an existing
// directory means another provium process owns that CID. Paths too long for a unix socket
// fall back to /tmp/provium-qemu.
std::pair<std::uint32_t, std::string> claim_scratch() {
  fs::path root = tmp_root();
  if ((root / "vm-4294967295/console.sock").string().size() > 107) root = "/tmp/provium-qemu";
  std::error_code ec;
  fs::create_directories(root, ec);
  for (int attempt = 0; attempt < 10000; ++attempt) {
    std::uint32_t cid = next_cid++;
    fs::path dir = root / fmt::format("vm-{}", cid);
    if (::mkdir(dir.c_str(), 0700) == 0) {
      std::ofstream(dir / "owner") << ::getpid() << "\n";
      return {cid, dir.string()};
    }
    if (errno != EEXIST)
      throw std::runtime_error(
          fmt::format("cannot create scratch dir `{}`: {}", dir.string(), std::strerror(errno)));
  }
  throw std::runtime_error(fmt::format("no free CID scratch directory under {}", root.string()));
}

// Scratch directories of provium processes that died without cleaning (their janitor normally
// removes them; this catches a janitor that was killed too).
void sweep_stale_scratch() {
  std::error_code ec;
  for (auto& e : fs::directory_iterator(tmp_root(), ec)) {
    if (!e.path().filename().string().starts_with("vm-")) continue;
    std::ifstream owner(e.path() / "owner");
    long pid = 0;
    if (!(owner >> pid) || pid <= 0 || pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    fs::remove_all(e.path(), ec);
  }
}

std::string base_initrd(const config::Profile& p) {
  if (!p.inject_agent) return p.initrd->string();
  std::string overlay = find_agent_overlay(p.agent_overlay_path);
  return merged_initrd(p.initrd, overlay, tmp_root() / "agent-overlay-cache");
}

// After a restore the guest's clock is the snapshot's and its RNG state is shared by every
// clone: both are fixed unless the test pinned them (REFERENCE §7.7). One batch, so a restore
// pays one round trip for both (each first use of a guest code path is slow under TCG).
void refresh_restored_guest(client::AgentClient& agent, const BootOptions& opts) {
  using proto::Value;
  std::vector<client::BatchItem> items;
  std::vector<std::string> what;
  auto add = [&](const char* kind, proto::Map payload, const char* label) {
    items.push_back({kind, Value{std::move(payload)}});
    what.push_back(label);
  };
  if (!opts.initial_time) {
    proto::Map t;
    t["ns"] =
        Value{static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count())};
    add("set_time", std::move(t), "restore: set_time");
  }
  if (!opts.rng_seed) {
    std::string seed(64, '\0');
    if (::getentropy(seed.data(), 32) != 0 || ::getentropy(seed.data() + 32, 32) != 0)
      throw std::runtime_error("restore: no host entropy to reseed the guest");
    proto::Map w;
    w["path"] = Value{"/dev/urandom"};
    w["data"] = Value{proto::Bytes{seed}};
    w["mode"] = Value{"append"};
    add("write_file", std::move(w), "restore: reseed /dev/urandom");
  }
  if (items.empty()) return;
  auto r = agent.call("batch_op", client::batch_payload(items));  // plain: {responses: [...]}
  if (r.kind == "agent_error")
    throw std::runtime_error("restore: refresh the guest: " +
                             (proto::opt_field(r.payload, "message")
                                  ? proto::str_field(r.payload, "message")
                                  : std::string("agent error")));
  std::vector<client::BatchAnswer> answers;
  try {
    answers = client::batch_answers(r.payload, items.size());
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(fmt::format("restore: the agent returned a {}", e.what()));
  }
  for (std::size_t i = 0; i < answers.size(); ++i) {
    if (!answers[i].payload)
      throw std::runtime_error(fmt::format("{}: {}", what[i], answers[i].agent_error));
    if (auto err = client::op_error(*answers[i].payload, what[i])) throw std::runtime_error(*err);
  }
}

// Scratch disks are blank sparse files in the VM's scratch directory; a writable image is
// attached through a qcow2 overlay there, so the user's file is never changed by a test (both
// made again on restore: disk contents are not part of a snapshot yet).
void create_scratch_disks(LaunchSpec& spec) {
  for (auto& d : spec.drives) {
    if (!d.backing.empty()) {
      d.file = fmt::format("{}/{}.qcow2", spec.scratch, d.id);
      std::string err;
      if (util::run_command(
              {"qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", d.backing, d.file},
              &err) != 0)
        throw std::runtime_error(fmt::format(
            "disk `{}`: cannot make its copy-on-write layer over `{}`: {} (qemu-img is in "
            "Debian's qemu-utils)",
            d.id, d.backing, err.empty() ? "qemu-img failed" : err));
      continue;
    }
    if (!d.scratch_bytes) continue;
    d.file = fmt::format("{}/{}.img", spec.scratch, d.id);
    std::ofstream(d.file).close();
    fs::resize_file(d.file, d.scratch_bytes);
  }
}

// Claims a CID and scratch directory, lets `prepare` fill in what lives there, starts QEMU and
// waits for the agent (after feeding `snapshot` when restoring). Nothing is left behind when
// any step fails.
template <typename Prepare>
std::unique_ptr<QemuMachine> launch(LaunchSpec spec, double timeout_s, const std::string& snapshot,
                                    Prepare prepare) {
  auto [cid, scratch] = claim_scratch();
  janitor_watch(scratch);
  spec.cid = cid;
  spec.scratch = scratch;
  SpawnSpec ss;
  pid_t pid;
  try {
    prepare(spec);
    create_scratch_disks(spec);
    ss.argv = qemu_argv(spec);
    ss.stderr_path = scratch + "/qemu.stderr";
    ss.batch_priority = true;
    for (auto& n : spec.nics) ss.keep_fds.push_back(n.tap_fd);
    pid = spawn_process(ss);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(scratch, ec);
    janitor_forget(scratch);
    throw;
  }
  auto m = std::make_unique<QemuMachine>(pid, spec);
  m->start(timeout_s, snapshot);
  return m;
}

class QemuBackend : public Backend {
 public:
  explicit QemuBackend(BackendSettings s) : settings_(std::move(s)) {}
  const char* name() const override { return "qemu"; }

  double default_agent_timeout() const override {
    // Under TCG everything is slower; explicit timeouts are honoured as given.
    return 30.0 * (choose_accel(settings_.accel) == Accel::Tcg ? 4 : 1);
  }

  std::string snapshot_identity() override {
    static std::once_flag once;
    static std::string version;
    std::call_once(once, [] {
      // "QEMU emulator version 7.2.22 (Debian …)": probed once per run, and remembered across
      // runs by the binary's identity (~30 ms per process otherwise). A wrapper script's
      // identity says nothing about the QEMU it runs, so scripts are asked every time.
      auto probe = [] { return util::first_line_of_output({"qemu-system-x86_64", "--version"}); };
      std::string bin = util::find_on_path("qemu-system-x86_64");
      char magic[2] = {};
      if (bin.empty() || !std::ifstream(bin, std::ios::binary).read(magic, 2) ||
          (magic[0] == '#' && magic[1] == '!')) {
        version = probe();
        return;
      }
      try {
        version = util::file_memo("--version", bin, [&] {
          std::string v = probe();
          if (v.empty()) throw std::runtime_error("printed nothing");  // not to be remembered
          return v;
        });
      } catch (const std::exception&) {  // version stays empty: "unknown" below
      }
    });
    if (version.empty()) version = "qemu (version unknown)";
    bool kvm = choose_accel(settings_.accel) == Accel::Kvm;
    bool vsock = choose_transport(settings_.transport) == Transport::Vsock;
    return fmt::format("{}; machine=q35; accel={}; cpu={}; transport={}", version,
                       kvm ? "kvm" : "tcg", kvm ? "host" : "max",
                       vsock ? "vsock" : "virtio-serial");
  }

  std::string agent_overlay(const config::Profile& p) override {
    if (!p.inject_agent) return {};
    try {
      return find_agent_overlay(p.agent_overlay_path);
    } catch (const std::exception&) {
      return {};
    }
  }

  std::unique_ptr<Machine> boot(const BootRequest& req) override {
    prepare_host();
    const config::Profile& p = *req.profile;
    BootOptions opts = read_boot_options(req.options);
    if (auto host = util::host_memory_total(); host && req.memory_bytes > *host)
      throw std::runtime_error(fmt::format("memory {} MiB exceeds the host's {} MiB; ask for less",
                                           req.memory_bytes >> 20, *host >> 20));

    LaunchSpec spec;
    spec.accel = choose_accel(settings_.accel);
    spec.transport = choose_transport(settings_.transport);
    spec.ksm_merge = settings_.ksm;
    spec.memory_mib = std::max<std::uint64_t>(1, req.memory_bytes >> 20);
    spec.cpus = req.cpus;
    spec.initial_time = opts.initial_time;
    spec.rng_seed = opts.rng_seed;
    if (util::find_on_path(spec.qemu).empty())
      throw std::runtime_error(
          "qemu-system-x86_64 not found on PATH; install it (apt-get install qemu-system-x86)");

    const fs::path kernel = config::resolve_kernel(p);  // may look inside the built `root`
    require_readable(kernel, "kernel", p.name);
    if (p.initrd && !p.initrd->empty()) require_readable(*p.initrd, "initrd", p.name);
    if (!p.inject_agent && (!p.initrd || p.initrd->empty()))
      throw std::runtime_error(fmt::format(
          "profile `{}`: inject_agent = false needs an initrd that starts the agent", p.name));
    CmdlineParts parts;
    if (p.cmdline_file) {
      require_readable(*p.cmdline_file, "cmdline_file", p.name);
      parts.file_contents = read_whole(*p.cmdline_file);
    }
    parts.inline_cmdline = p.cmdline;
    parts.replacement = opts.kernel_cmdline;
    parts.append = opts.kernel_cmdline_append;
    parts.inject_agent = p.inject_agent;
    parts.transport = spec.transport;
    spec.cmdline = assemble_cmdline(parts);
    spec.kernel = kernel.string();

    // Disks: profile first, then boot disks, one id namespace.
    std::set<std::string> ids;
    std::vector<config::DiskSpec> disks = p.disks;
    disks.insert(disks.end(), opts.disks.begin(), opts.disks.end());
    for (auto& d : disks) {
      if (!ids.insert(d.id).second)
        throw std::runtime_error(fmt::format("disks: duplicate id `{}`", d.id));
      if (d.mediated)
        throw std::runtime_error(
            fmt::format("disks: `{}`: mediated disks are not supported by this build yet", d.id));
      if (d.path) require_readable(*d.path, fmt::format("disk `{}`", d.id), p.name);
    }

    for (auto& d : disks) {
      DriveSpec drive{d.id, d.path ? d.path->string() : "", d.readonly, d.scratch.value_or(0), ""};
      // A writable image goes through an overlay unless the test asked to write it for real.
      if (d.path && !d.readonly && !d.persist) drive.backing = fs::absolute(*d.path).string();
      spec.drives.push_back(std::move(drive));
    }
    spec.nics = req.nics;
    return launch(spec, req.agent_timeout.value_or(default_agent_timeout()), "",
                  [&](LaunchSpec& s) {
                    s.initrd = base_initrd(p);
                    if (!opts.files.empty()) {
                      std::string with_files = s.scratch + "/initrd-with-files.cpio.gz";
                      append_files_segment(s.initrd, opts.files, with_files);
                      s.initrd = with_files;
                    }
                  });
  }

  std::unique_ptr<Machine> restore(const BootRequest& req, const std::string& path) override {
    prepare_host();
    BootOptions opts = read_boot_options(req.options);
    LaunchSpec spec;
    try {
      spec = spec_from_model(read_snapshot_model(path));
    } catch (const nlohmann::json::exception& e) {
      throw std::runtime_error(
          fmt::format("snapshot `{}` has a corrupt header: {}", path, e.what()));
    }
    Accel here = choose_accel(settings_.accel);
    if (spec.accel != here)
      throw std::runtime_error(fmt::format(
          "snapshot `{}` was taken under {} and cannot be restored under {}", path,
          spec.accel == Accel::Kvm ? "KVM" : "TCG", here == Accel::Kvm ? "KVM" : "TCG"));
    require_readable(spec.kernel, "kernel", req.profile->name);
    // The saved device model has the NICs the VM had; the VM must still be on those bridges.
    std::string saved, now;
    for (auto& n : spec.nics) saved += (saved.empty() ? "" : ", ") + n.mac;
    for (auto& n : req.nics) now += (now.empty() ? "" : ", ") + n.mac;
    if (saved != now)
      throw std::runtime_error(fmt::format(
          "snapshot `{}` has NICs [{}] but the VM is attached to [{}] now; attach the VM to the "
          "same bridges it had when the snapshot was taken",
          path, saved, now));
    spec.nics = req.nics;
    spec.incoming = true;
    auto m = launch(spec, req.agent_timeout.value_or(default_agent_timeout()), path,
                    [&](LaunchSpec& s) { s.initrd = base_initrd(*req.profile); });
    refresh_restored_guest(*m->agent(), opts);
    return m;
  }

 private:
  // Once per process, at the first VM: stale scratch of dead processes goes, KSM is tuned.
  void prepare_host() {
    static std::once_flag once;
    std::call_once(once, [this] {
      sweep_stale_scratch();
      if (settings_.ksm) ksm_tune_once();
    });
  }

  BackendSettings settings_;
};

}  // namespace

Backend& backend(const BackendSettings& settings) {
  static QemuBackend b(settings);
  return b;
}

}  // namespace provium::vmm::qemu
