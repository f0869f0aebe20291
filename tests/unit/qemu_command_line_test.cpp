// The pure parts of the QEMU backend: kernel command line assembly (REFERENCE §7.3), the QEMU
// argv (§7.2) and the boot options of §5.2.
#include <gtest/gtest.h>

#include <algorithm>

#include "vmm/qemu/boot_options.hpp"
#include "vmm/qemu/command_line.hpp"

namespace provium::vmm::qemu {
namespace {

using events::MetaMap;
using events::MetaValue;

TEST(AssembleCmdline, FileThenInlineThenAppendThenConsoleAgentTransport) {
  CmdlineParts p;
  p.file_contents = "quiet\n  panic=-1\n";
  p.inline_cmdline = "loglevel=3";
  p.append = "foo=bar";
  EXPECT_EQ(assemble_cmdline(p),
            "quiet panic=-1 loglevel=3 foo=bar console=ttyS0 rdinit=/sbin/provium-agent "
            "provium.transport=virtio-serial");
}

TEST(AssembleCmdline, ReplacementDropsTheProfileParts) {
  CmdlineParts p;
  p.file_contents = "from-file";
  p.inline_cmdline = "inline";
  p.replacement = "console=ttyS0,115200 mine";
  p.transport = Transport::Vsock;
  EXPECT_EQ(assemble_cmdline(p),
            "console=ttyS0,115200 mine rdinit=/sbin/provium-agent provium.transport=vsock");
}

TEST(AssembleCmdline, OwnRdinitIsAnErrorUnlessItIsTheAgent) {
  CmdlineParts p;
  p.inline_cmdline = "rdinit=/init";
  try {
    assemble_cmdline(p);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("rdinit=/init"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("inject_agent = false"), std::string::npos);
  }
  p.inline_cmdline = "rdinit=/sbin/provium-agent";
  EXPECT_EQ(assemble_cmdline(p),
            "rdinit=/sbin/provium-agent console=ttyS0 provium.transport=virtio-serial");
  p.inline_cmdline = "rdinit=/init";
  p.inject_agent = false;
  EXPECT_EQ(assemble_cmdline(p), "rdinit=/init console=ttyS0 provium.transport=virtio-serial");
}

TEST(RtcBase, IsUtc) {
  EXPECT_EQ(rtc_base(0), "1970-01-01T00:00:00");
  EXPECT_EQ(rtc_base(2000000000), "2033-05-18T03:33:20");
}

bool has_pair(const std::vector<std::string>& a, const std::string& k, const std::string& v) {
  for (std::size_t i = 0; i + 1 < a.size(); ++i)
    if (a[i] == k && a[i + 1] == v) return true;
  return false;
}

TEST(QemuArgv, TcgVirtioSerialInTheDocumentedOrder) {
  LaunchSpec s;
  s.memory_mib = 256;
  s.cpus = 2;
  s.kernel = "/k";
  s.initrd = "/i";
  s.cmdline = "console=ttyS0";
  s.scratch = "/tmp/s";
  auto a = qemu_argv(s);
  ASSERT_GE(a.size(), 12u);
  EXPECT_EQ(a[1], "-M");
  EXPECT_EQ(a[2], "q35,accel=tcg,memory-backend=mem");
  EXPECT_EQ(a[4], "max");
  EXPECT_TRUE(has_pair(a, "-m", "256M"));
  EXPECT_TRUE(has_pair(a, "-smp", "2"));
  EXPECT_TRUE(has_pair(a, "-object", "memory-backend-ram,id=mem,size=256M,merge=on"));
  EXPECT_TRUE(
      has_pair(a, "-chardev", "socket,id=pvagent0,path=/tmp/s/agent.sock,server=on,wait=off"));
  EXPECT_TRUE(
      has_pair(a, "-device",
               "virtserialport,bus=pvser0.0,chardev=pvagent0,id=pvport0,name=org.provium.agent.0"));
  EXPECT_TRUE(has_pair(a, "-qmp", "unix:/tmp/s/qmp.sock,server=on,wait=off"));
  EXPECT_TRUE(has_pair(a, "-serial", "chardev:conserial0"));
  EXPECT_EQ(std::find(a.begin(), a.end(), "-incoming"), a.end());
  EXPECT_EQ(std::find(a.begin(), a.end(), "-rtc"), a.end());
  // -nodefaults before -kernel, the agent transport before QMP
  auto pos = [&](const std::string& x) { return std::find(a.begin(), a.end(), x) - a.begin(); };
  EXPECT_LT(pos("-nodefaults"), pos("-kernel"));
  EXPECT_LT(pos("-kernel"), pos("-qmp"));
}

TEST(QemuArgv, KvmVsockRestoreTimeSeedDisks) {
  LaunchSpec s;
  s.accel = Accel::Kvm;
  s.transport = Transport::Vsock;
  s.cid = 123;
  s.ksm_merge = false;
  s.incoming = true;
  s.initial_time = 0;
  s.rng_seed = 0xabc;
  s.scratch = "/s";
  s.drives = {{"data", "/img,with,commas", true, 0, ""},
              {"work", "/s/work.qcow2", false, 0, "/home/u/disk.img"}};
  auto a = qemu_argv(s);
  EXPECT_EQ(a[2], "q35,accel=kvm,memory-backend=mem");
  EXPECT_EQ(a[4], "host");
  EXPECT_TRUE(has_pair(a, "-device", "vhost-vsock-pci,guest-cid=123"));
  EXPECT_TRUE(has_pair(a, "-object", "memory-backend-ram,id=mem,size=512M,merge=off"));
  EXPECT_TRUE(has_pair(a, "-incoming", "defer"));
  EXPECT_TRUE(has_pair(a, "-rtc", "base=1970-01-01T00:00:00,clock=host"));
  EXPECT_TRUE(has_pair(a, "-fw_cfg", "name=opt/provium/rng-seed,string=0000000000000abc"));
  EXPECT_TRUE(
      has_pair(a, "-drive", "if=none,id=data,format=raw,file=/img,,with,,commas,readonly=on"));
  EXPECT_TRUE(has_pair(a, "-device", "virtio-blk-pci,drive=data"));
  // A writable image is attached through its overlay in the scratch directory.
  EXPECT_TRUE(has_pair(a, "-drive", "if=none,id=work,format=qcow2,file=/s/work.qcow2"));
}

MetaValue map(std::initializer_list<std::pair<const std::string, MetaValue>> kv) {
  return MetaValue{events::MetaMap(kv)};
}

TEST(BootOptions, ReadsEveryKey) {
  MetaMap o;
  o["kernel_cmdline_append"] = MetaValue{std::string("x=1")};
  o["initial_time"] = MetaValue{1.9};
  o["rng_seed"] = MetaValue{std::int64_t{7}};
  o["files"] = MetaValue{proto::Array{map({{"path", MetaValue{std::string("/etc/a")}},
                                           {"content", MetaValue{std::string("hi")}},
                                           {"mode", MetaValue{std::int64_t{0600}}}})}};
  o["disks"] = MetaValue{proto::Array{map({{"scratch", MetaValue{std::int64_t{1 << 20}}}})}};
  auto b = read_boot_options(o);
  EXPECT_EQ(*b.kernel_cmdline_append, "x=1");
  EXPECT_EQ(*b.initial_time, 1);
  EXPECT_EQ(*b.rng_seed, 7u);
  ASSERT_EQ(b.files.size(), 1u);
  EXPECT_EQ(b.files[0].mode, 0600u);
  ASSERT_EQ(b.disks.size(), 1u);
  EXPECT_EQ(b.disks[0].id, "boot0");
  EXPECT_EQ(*b.disks[0].scratch, 1u << 20);
}

void expect_error(const MetaMap& o, const std::string& needle) {
  try {
    read_boot_options(o);
    FAIL() << "expected an error containing " << needle;
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(BootOptions, BadValuesNameTheKey) {
  expect_error({{"rng_seed", MetaValue{std::string("x")}}}, "rng_seed: must be an integer");
  expect_error({{"initial_time", MetaValue{std::string("now")}}}, "initial_time:");
  expect_error({{"files", MetaValue{proto::Array{map({{"path", MetaValue{std::string("rel")}},
                                                      {"content", MetaValue{std::string("")}}})}}}},
               "files[1].path: must be an absolute guest path");
  expect_error({{"files", MetaValue{proto::Array{map({{"path", MetaValue{std::string("/a")}},
                                                      {"content", MetaValue{std::string("")}},
                                                      {"owner", MetaValue{std::string("me")}}})}}}},
               "unknown key `owner`");
  expect_error({{"disks", MetaValue{proto::Array{map({{"id", MetaValue{std::string("d")}}})}}}},
               "needs exactly one of `path` and `scratch`");
}

MetaMap scratch_disk(MetaValue size) {
  return {{"disks", MetaValue{proto::Array{map({{"scratch", std::move(size)}})}}}};
}

TEST(BootOptions, ScratchSizeAcceptsSizeStrings) {
  EXPECT_EQ(*read_boot_options(scratch_disk(MetaValue{std::string("256M")})).disks[0].scratch,
            256ull << 20);
  EXPECT_EQ(*read_boot_options(scratch_disk(MetaValue{std::string("1GiB")})).disks[0].scratch,
            1ull << 30);
  EXPECT_EQ(*read_boot_options(scratch_disk(MetaValue{std::string("4096")})).disks[0].scratch,
            4096u);
  EXPECT_EQ(*read_boot_options(scratch_disk(MetaValue{std::int64_t{65536}})).disks[0].scratch,
            65536u);
  EXPECT_EQ(*read_boot_options(scratch_disk(MetaValue{1048576.0})).disks[0].scratch, 1u << 20);
}

TEST(BootOptions, BadScratchSizeNamesTheKeyAndTheAcceptedForms) {
  expect_error(scratch_disk(MetaValue{std::string("lots")}),
               "disks[1].scratch: invalid size `lots`: not an integer with an optional K/M/G/T "
               "suffix (use bytes or e.g. 512M, 4G, 1024K)");
  expect_error(scratch_disk(MetaValue{std::string("-5M")}), "disks[1].scratch: invalid size `-5M`");
  expect_error(scratch_disk(MetaValue{std::string("0M")}),
               "disks[1].scratch: must be a positive size: bytes (a number) or a string like "
               "\"256M\"");
  expect_error(scratch_disk(MetaValue{std::int64_t{0}}),
               "disks[1].scratch: must be a positive size");
  expect_error(scratch_disk(MetaValue{1.5}), "disks[1].scratch: must be a positive size");
  expect_error(scratch_disk(MetaValue{true}), "disks[1].scratch: must be a size: bytes");
}

}  // namespace
}  // namespace provium::vmm::qemu
