// provium.toml parsing and validation (REFERENCE §3).
#include "config/config.hpp"

#include <gtest/gtest.h>

#include <string>

#include "unit_support.hpp"

namespace provium::config {
namespace {

using provium::unit::ScopedEnv;
using provium::unit::TempDir;

constexpr std::uint64_t kGiB = 1ull << 30;
constexpr std::uint64_t kMiB = 1ull << 20;

// Every test runs with a fixed, known build_out base so defaults are predictable.
class ConfigTest : public ::testing::Test {
 protected:
  ConfigTest()
      : build_dir_("PROVIUM_BUILD_DIR", (tmp_.path() / "builds").string()),
        xdg_("XDG_CACHE_HOME", std::nullopt) {}

  Config Parse(const std::string& text) { return parse(text, ConfigPath(), cwd()); }

  // The message of the ConfigError `text` raises; fails the test when nothing is thrown.
  std::string Error(const std::string& text) {
    try {
      parse(text, ConfigPath(), cwd());
    } catch (const ConfigError& e) {
      std::string what = e.what();
      EXPECT_EQ(what.find('\n'), std::string::npos) << "multi-line error: " << what;
      return what;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "expected ConfigError, got another exception: " << e.what();
      return e.what();
    }
    ADD_FAILURE() << "expected a ConfigError for:\n" << text;
    return "";
  }

  fs::path cwd() const { return tmp_.path(); }
  fs::path ConfigPath() const { return tmp_.path() / "provium.toml"; }
  std::string InvalidPrefix() const {
    return "invalid config in `" + ConfigPath().string() + "`: ";
  }

  TempDir tmp_;
  ScopedEnv build_dir_;
  ScopedEnv xdg_;
};

::testing::AssertionResult StartsWith(const std::string& s, const std::string& prefix) {
  if (s.rfind(prefix, 0) == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "`" << s << "` does not start with `" << prefix << "`";
}

::testing::AssertionResult Contains(const std::string& s, const std::string& part) {
  if (s.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "`" << s << "` does not contain `" << part << "`";
}

// ---- basics ----

TEST_F(ConfigTest, EmptyFileIsValidWithDefaults) {
  Config c = Parse("");
  EXPECT_TRUE(c.profiles.empty());
  EXPECT_TRUE(c.roots.empty());
  EXPECT_FALSE(c.cache_dir.has_value());
  EXPECT_EQ(c.cache_max_size, 20 * kGiB);
}

TEST_F(ConfigTest, InlineProfileFieldsAndDefaults) {
  Config c = Parse(R"(
[profiles.debian]
kernel  = "images/vmlinuz"
initrd  = "images/busybox.cpio.gz"
cmdline = "console=ttyS0 panic=1 quiet"
)");
  ASSERT_EQ(c.profiles.size(), 1u);
  const Profile& p = c.profiles.at("debian");
  EXPECT_EQ(p.name, "debian");
  EXPECT_EQ(p.kernel, cwd() / "images/vmlinuz");
  ASSERT_TRUE(p.initrd);
  EXPECT_EQ(*p.initrd, cwd() / "images/busybox.cpio.gz");
  EXPECT_EQ(p.cmdline, "console=ttyS0 panic=1 quiet");
  EXPECT_FALSE(p.cmdline_file);
  EXPECT_EQ(p.guest_os, "linux");
  EXPECT_TRUE(p.inject_agent);
  EXPECT_FALSE(p.agent_overlay_path);
  EXPECT_FALSE(p.build);
  EXPECT_TRUE(p.disks.empty());
  EXPECT_EQ(p.base_dir, cwd());
}

TEST_F(ConfigTest, AbsolutePathsAreKept) {
  Config c = Parse(R"(
[profiles.a]
kernel = "/boot/vmlinuz"
cmdline = "x"
)");
  EXPECT_EQ(c.profiles.at("a").kernel, fs::path("/boot/vmlinuz"));
}

TEST_F(ConfigTest, MissingImagesAreNotCheckedAtLoad) {
  Config c = Parse(R"(
[profiles.a]
kernel = "does/not/exist"
initrd = "neither/does/this"
cmdline_file = "nor/this"
)");
  EXPECT_EQ(c.profiles.count("a"), 1u);
}

TEST_F(ConfigTest, AllOptionalProfileFields) {
  Config c = Parse(R"(
[profiles.a]
kernel = "k"
initrd = "i"
cmdline = "quiet"
cmdline_file = "cmd.txt"
guest_os = "linux"
inject_agent = false
agent_overlay_path = "overlay.cpio.gz"
agent_boot_timeout = 12.5
build = "make"
)");
  const Profile& p = c.profiles.at("a");
  EXPECT_EQ(*p.cmdline_file, cwd() / "cmd.txt");
  EXPECT_FALSE(p.inject_agent);
  EXPECT_EQ(*p.agent_overlay_path, cwd() / "overlay.cpio.gz");
  ASSERT_TRUE(p.agent_boot_timeout);
  EXPECT_DOUBLE_EQ(*p.agent_boot_timeout, 12.5);
  EXPECT_EQ(*p.build, "make");
}

TEST_F(ConfigTest, ProfilesAreSortedByNameSoTheFirstIsTheDefault) {
  Config c = Parse(R"(
[profiles.zeta]
kernel = "k"
cmdline = "x"
[profiles.alpha]
kernel = "k"
cmdline = "x"
)");
  ASSERT_EQ(c.profiles.size(), 2u);
  EXPECT_EQ(c.profiles.begin()->first, "alpha");
}

// ---- [provium] ----

TEST_F(ConfigTest, RootsResolveAgainstCwdInOrder) {
  Config c = Parse(R"(
[provium]
roots = ["tests", "more/tests", "/abs/root"]
)");
  ASSERT_EQ(c.roots.size(), 3u);
  EXPECT_EQ(c.roots[0], cwd() / "tests");
  EXPECT_EQ(c.roots[1], cwd() / "more/tests");
  EXPECT_EQ(c.roots[2], fs::path("/abs/root"));
}

TEST_F(ConfigTest, CacheDirResolvesAgainstCwd) {
  Config c = Parse("[provium]\ncache_dir = \"cache\"\n");
  ASSERT_TRUE(c.cache_dir);
  EXPECT_EQ(*c.cache_dir, cwd() / "cache");
  EXPECT_EQ(c.effective_cache_dir(), cwd() / "cache");
}

TEST_F(ConfigTest, CacheMaxSizeAcceptsSizeStringsAndIntegers) {
  EXPECT_EQ(Parse("[provium]\ncache_max_size = \"512M\"\n").cache_max_size, 512 * kMiB);
  EXPECT_EQ(Parse("[provium]\ncache_max_size = \"2G\"\n").cache_max_size, 2 * kGiB);
  EXPECT_EQ(Parse("[provium]\ncache_max_size = \"1024k\"\n").cache_max_size, 1024 * 1024u);
  EXPECT_EQ(Parse("[provium]\ncache_max_size = 4096\n").cache_max_size, 4096u);
}

TEST_F(ConfigTest, CacheMaxSizeRejectsBadSizes) {
  EXPECT_TRUE(StartsWith(Error("[provium]\ncache_max_size = \"lots\"\n"), InvalidPrefix()));
  EXPECT_TRUE(StartsWith(Error("[provium]\ncache_max_size = \"1.5G\"\n"), InvalidPrefix()));
  EXPECT_TRUE(StartsWith(Error("[provium]\ncache_max_size = -1\n"), InvalidPrefix()));
}

TEST_F(ConfigTest, UnknownProviumKeyIsAnError) {
  std::string e = Error("[provium]\nroot = [\"tests\"]\n");
  EXPECT_TRUE(StartsWith(e, InvalidPrefix()));
  EXPECT_TRUE(Contains(e, "root"));
}

TEST_F(ConfigTest, UnknownTopLevelKeyIsAnError) {
  EXPECT_TRUE(StartsWith(Error("[something]\nx = 1\n"), InvalidPrefix()));
}

TEST_F(ConfigTest, LegacyProfileTableIsRejected) {
  EXPECT_TRUE(StartsWith(Error("[profile.a]\nkernel = \"k\"\ncmdline = \"x\"\n"), InvalidPrefix()));
}

// ---- {out} and build_out ----

TEST_F(ConfigTest, OutExpandsInBuildAndEveryPathField) {
  Config c = Parse(R"(
[profiles.built]
build_out = "/opt/out"
build  = "./mkimage.sh {out} && cp x {out}/y"
kernel = "{out}/vmlinuz"
initrd = "{out}/initramfs.cpio.gz"
cmdline_file = "{out}/cmdline"
agent_overlay_path = "{out}/overlay.cpio.gz"
disks  = [{ path = "{out}/data.img", id = "data", readonly = true }]
)");
  const Profile& p = c.profiles.at("built");
  EXPECT_EQ(p.build_out, fs::path("/opt/out"));
  EXPECT_EQ(*p.build, "./mkimage.sh /opt/out && cp x /opt/out/y");
  EXPECT_EQ(p.kernel, fs::path("/opt/out/vmlinuz"));
  EXPECT_EQ(*p.initrd, fs::path("/opt/out/initramfs.cpio.gz"));
  EXPECT_EQ(*p.cmdline_file, fs::path("/opt/out/cmdline"));
  EXPECT_EQ(*p.agent_overlay_path, fs::path("/opt/out/overlay.cpio.gz"));
  ASSERT_EQ(p.disks.size(), 1u);
  EXPECT_EQ(*p.disks[0].path, fs::path("/opt/out/data.img"));
  EXPECT_EQ(p.disks[0].id, "data");
  EXPECT_TRUE(p.disks[0].readonly);
}

TEST_F(ConfigTest, RelativeBuildOutIsMadeAbsoluteAgainstCwd) {
  Config c = Parse(R"(
[profiles.a]
build_out = "out/a"
kernel = "{out}/vmlinuz"
cmdline = "x"
)");
  const Profile& p = c.profiles.at("a");
  EXPECT_TRUE(p.build_out.is_absolute());
  EXPECT_EQ(p.build_out, cwd() / "out/a");
  EXPECT_EQ(p.kernel, cwd() / "out/a/vmlinuz");
}

TEST_F(ConfigTest, BuildOutDefaultsToProviumBuildDir) {
  Config c = Parse("[profiles.built]\nkernel = \"{out}/vmlinuz\"\ncmdline = \"x\"\n");
  const Profile& p = c.profiles.at("built");
  EXPECT_EQ(p.build_out, tmp_.path() / "builds" / "built");
  EXPECT_EQ(p.kernel, tmp_.path() / "builds" / "built" / "vmlinuz");
}

TEST_F(ConfigTest, BuildOutDefaultsToXdgCacheHome) {
  ScopedEnv no_build_dir("PROVIUM_BUILD_DIR", std::nullopt);
  ScopedEnv xdg("XDG_CACHE_HOME", (tmp_.path() / "xdg").string());
  Config c = Parse("[profiles.p]\nkernel = \"k\"\ncmdline = \"x\"\n");
  EXPECT_EQ(c.profiles.at("p").build_out, tmp_.path() / "xdg/provium/builds/p");
}

TEST_F(ConfigTest, BuildOutDefaultsToHomeCache) {
  ScopedEnv no_build_dir("PROVIUM_BUILD_DIR", std::nullopt);
  ScopedEnv home("HOME", (tmp_.path() / "home").string());
  Config c = Parse("[profiles.p]\nkernel = \"k\"\ncmdline = \"x\"\n");
  EXPECT_EQ(c.profiles.at("p").build_out, tmp_.path() / "home/.cache/provium/builds/p");
}

TEST_F(ConfigTest, BuildOutDefaultsToTmpWithoutHome) {
  ScopedEnv no_build_dir("PROVIUM_BUILD_DIR", std::nullopt);
  ScopedEnv no_home("HOME", std::nullopt);
  Config c = Parse("[profiles.p]\nkernel = \"k\"\ncmdline = \"x\"\n");
  EXPECT_EQ(c.profiles.at("p").build_out, fs::path("/tmp/provium-builds/p"));
}

// ---- validation errors ----

TEST_F(ConfigTest, EmptyCmdlineWithoutCmdlineFileIsAnError) {
  std::string e = Error("[profiles.x]\nkernel = \"k\"\n");
  EXPECT_TRUE(StartsWith(e, InvalidPrefix()));
  EXPECT_TRUE(Contains(e, "profile `x` has empty cmdline and no `cmdline_file`; set at least one"));
  e = Error("[profiles.x]\nkernel = \"k\"\ncmdline = \"\"\n");
  EXPECT_TRUE(Contains(e, "profile `x` has empty cmdline and no `cmdline_file`; set at least one"));
}

TEST_F(ConfigTest, CmdlineFileAloneIsEnough) {
  Config c = Parse("[profiles.x]\nkernel = \"k\"\ncmdline_file = \"cmdline\"\n");
  EXPECT_EQ(c.profiles.at("x").cmdline, "");
  EXPECT_EQ(*c.profiles.at("x").cmdline_file, cwd() / "cmdline");
}

TEST_F(ConfigTest, GuestOsOtherThanLinuxIsAnError) {
  std::string e = Error("[profiles.x]\nkernel = \"k\"\ncmdline = \"c\"\nguest_os = \"peios\"\n");
  EXPECT_TRUE(StartsWith(e, InvalidPrefix()));
  EXPECT_TRUE(Contains(e, "profile `x` has guest_os = `peios`, only `linux` is supported"));
}

TEST_F(ConfigTest, InjectAgentFalseRequiresInitrd) {
  std::string e = Error("[profiles.x]\nkernel = \"k\"\ncmdline = \"c\"\ninject_agent = false\n");
  EXPECT_TRUE(StartsWith(e, InvalidPrefix()));
  EXPECT_TRUE(Contains(e, "inject_agent"));
  EXPECT_TRUE(Contains(e, "`x`"));
  // An empty initrd counts as absent.
  e = Error("[profiles.x]\nkernel = \"k\"\ncmdline = \"c\"\ninitrd = \"\"\ninject_agent = false\n");
  EXPECT_TRUE(StartsWith(e, InvalidPrefix()));
}

TEST_F(ConfigTest, InjectAgentFalseWithInitrdIsFine) {
  Config c = Parse(
      "[profiles.x]\nkernel = \"k\"\ncmdline = \"c\"\ninitrd = \"i\"\ninject_agent = false\n");
  EXPECT_FALSE(c.profiles.at("x").inject_agent);
}

TEST_F(ConfigTest, EmptyInitrdMeansNoInitrd) {
  Config c = Parse("[profiles.x]\nkernel = \"k\"\ncmdline = \"c\"\ninitrd = \"\"\n");
  EXPECT_FALSE(c.profiles.at("x").initrd);
}

TEST_F(ConfigTest, MissingKernelIsAnError) {
  std::string e = Error("[profiles.x]\ncmdline = \"c\"\n");
  EXPECT_TRUE(StartsWith(e, InvalidPrefix()));
  EXPECT_TRUE(Contains(e, "kernel"));
}

TEST_F(ConfigTest, UnknownProfileKeyIsAnErrorWithItsLine) {
  std::string e = Error("[profiles.x]\nkernel = \"k\"\ncmdline = \"c\"\nrootfs = \"r\"\n");
  EXPECT_TRUE(StartsWith(e, InvalidPrefix() + "line 4: "));
  EXPECT_TRUE(Contains(e, "profile `x` has unknown key"));
  EXPECT_TRUE(Contains(e, "rootfs"));
}

TEST_F(ConfigTest, RootFieldIsAPathLikeKernel) {
  // The tree need not exist at load; the kernel in it is located at boot (kernel_test.cpp).
  Config c = Parse("[profiles.x]\nkernel = \"k\"\ncmdline = \"c\"\nroot = \"/os\"\n");
  EXPECT_EQ(*c.profiles.at("x").root, fs::path("/os"));
  c = Parse("[profiles.x]\ncmdline = \"c\"\nroot = \"{out}/root\"\n");
  EXPECT_EQ(*c.profiles.at("x").root, tmp_.path() / "builds" / "x" / "root");
  EXPECT_TRUE(c.profiles.at("x").kernel.empty());
}

TEST_F(ConfigTest, WrongValueTypesAreErrors) {
  EXPECT_TRUE(StartsWith(Error("[profiles.x]\nkernel = 5\ncmdline = \"c\"\n"), InvalidPrefix()));
  EXPECT_TRUE(
      StartsWith(Error("[profiles.x]\nkernel = \"k\"\ncmdline = \"c\"\ninject_agent = \"no\"\n"),
                 InvalidPrefix()));
  EXPECT_TRUE(StartsWith(Error("[provium]\nroots = \"tests\"\n"), InvalidPrefix()));
}

TEST_F(ConfigTest, DuplicateInlineProfileIsAnError) {
  // TOML itself forbids redefining a table; either way the load fails with a one-line message.
  std::string e = Error(
      "[profiles.a]\nkernel = \"k\"\ncmdline = \"c\"\n[profiles.a]\nkernel = \"k\"\ncmdline = "
      "\"c\"\n");
  EXPECT_FALSE(e.empty());
}

// ---- parse errors ----

TEST_F(ConfigTest, TomlSyntaxErrorNamesFileLineAndColumn) {
  std::string e = Error("[provium]\nroots = [\"tests\"\n");
  EXPECT_TRUE(StartsWith(e, "parse `" + ConfigPath().string() + "`: line "));
  EXPECT_TRUE(Contains(e, ", column "));
}

TEST_F(ConfigTest, TomlSyntaxErrorReportsTheRightLine) {
  std::string e = Error("[provium]\n\nthis is not toml\n");
  EXPECT_TRUE(StartsWith(e, "parse `" + ConfigPath().string() + "`: line 3, column "));
}

// ---- disks ----

TEST_F(ConfigTest, DiskDefaults) {
  Config c = Parse(R"(
[profiles.x]
kernel = "k"
cmdline = "c"
disks = [{ path = "a.img" }, { scratch = "1G" }, { path = "/abs/b.img", mediated = true }]
)");
  const auto& d = c.profiles.at("x").disks;
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].id, "disk0");
  EXPECT_EQ(*d[0].path, cwd() / "a.img");
  EXPECT_FALSE(d[0].readonly);
  EXPECT_FALSE(d[0].mediated);
  EXPECT_EQ(d[1].id, "disk1");
  EXPECT_FALSE(d[1].path);
  ASSERT_TRUE(d[1].scratch);
  EXPECT_EQ(*d[1].scratch, kGiB);
  EXPECT_EQ(d[2].id, "disk2");
  EXPECT_EQ(*d[2].path, fs::path("/abs/b.img"));
  EXPECT_TRUE(d[2].mediated);
}

TEST_F(ConfigTest, DuplicateDiskIdsAreAnError) {
  std::string e = Error(R"(
[profiles.x]
kernel = "k"
cmdline = "c"
disks = [{ path = "a.img", id = "data" }, { path = "b.img", id = "data" }]
)");
  EXPECT_TRUE(StartsWith(e, InvalidPrefix()));
  EXPECT_TRUE(Contains(e, "data"));
}

TEST_F(ConfigTest, ExplicitIdCollidingWithDefaultIdIsADuplicate) {
  std::string e = Error(R"(
[profiles.x]
kernel = "k"
cmdline = "c"
disks = [{ path = "a.img", id = "disk1" }, { path = "b.img" }]
)");
  EXPECT_TRUE(StartsWith(e, InvalidPrefix()));
  EXPECT_TRUE(Contains(e, "disk1"));
}

TEST_F(ConfigTest, UnknownDiskKeyIsAnError) {
  std::string e = Error(R"(
[profiles.x]
kernel = "k"
cmdline = "c"
disks = [{ path = "a.img", size = "1G" }]
)");
  EXPECT_TRUE(StartsWith(e, InvalidPrefix()));
  EXPECT_TRUE(Contains(e, "size"));
}

TEST_F(ConfigTest, DiskNeedsExactlyOneOfPathAndScratch) {
  EXPECT_TRUE(StartsWith(Error("[profiles.x]\nkernel = \"k\"\ncmdline = \"c\"\n"
                               "disks = [{ path = \"a.img\", scratch = \"1G\" }]\n"),
                         InvalidPrefix()));
  EXPECT_TRUE(
      StartsWith(Error("[profiles.x]\nkernel = \"k\"\ncmdline = \"c\"\ndisks = [{ id = \"d\" }]\n"),
                 InvalidPrefix()));
}

TEST_F(ConfigTest, AgentBootTimeoutIsAPositiveNumberOfSeconds) {
  Config c = Parse("[profiles.x]\nkernel = \"k\"\ncmdline = \"c\"\nagent_boot_timeout = 30\n");
  EXPECT_DOUBLE_EQ(*c.profiles.at("x").agent_boot_timeout, 30.0);
  EXPECT_FALSE(
      Parse("[profiles.x]\nkernel = \"k\"\ncmdline = \"c\"\n").profiles.at("x").agent_boot_timeout);
  EXPECT_TRUE(
      StartsWith(Error("[profiles.x]\nkernel = \"k\"\ncmdline = \"c\"\nagent_boot_timeout = -1\n"),
                 InvalidPrefix()));
  EXPECT_TRUE(
      StartsWith(Error("[profiles.x]\nkernel = \"k\"\ncmdline = \"c\"\nagent_boot_timeout = nan\n"),
                 InvalidPrefix()));
}

// ---- from_dir ----

class FromDirTest : public ConfigTest {
 protected:
  void WriteProfile(const std::string& name, const std::string& text) {
    tmp_.write("profiles/" + name + "/profile.provium.toml", text);
  }
};

TEST_F(FromDirTest, EachSubdirectoryWithProfileFileIsAProfile) {
  WriteProfile("alpha", "kernel = \"vmlinuz\"\ninitrd = \"initrd.gz\"\ncmdline = \"quiet\"\n");
  WriteProfile("beta", "kernel = \"/abs/vmlinuz\"\ncmdline_file = \"cmdline\"\n");
  fs::create_directories(tmp_.path() / "profiles/not-a-profile");
  tmp_.write("profiles/stray.toml", "kernel = \"x\"\n");
  Config c = Parse("[profiles]\nfrom_dir = \"profiles\"\n");
  ASSERT_EQ(c.profiles.size(), 2u);
  const fs::path alpha_dir = tmp_.path() / "profiles/alpha";
  const Profile& a = c.profiles.at("alpha");
  EXPECT_EQ(a.name, "alpha");
  EXPECT_EQ(a.kernel, alpha_dir / "vmlinuz");
  EXPECT_EQ(*a.initrd, alpha_dir / "initrd.gz");
  EXPECT_EQ(a.base_dir, alpha_dir);
  const Profile& b = c.profiles.at("beta");
  EXPECT_EQ(b.kernel, fs::path("/abs/vmlinuz"));
  EXPECT_EQ(*b.cmdline_file, tmp_.path() / "profiles/beta/cmdline");
}

TEST_F(FromDirTest, RelativeBuildOutAndDiskPathsResolveAgainstTheProfileDirectory) {
  WriteProfile("p",
               "build_out = \"out\"\nkernel = \"{out}/vmlinuz\"\ncmdline = \"q\"\n"
               "agent_overlay_path = \"overlay.cpio.gz\"\n"
               "disks = [{ path = \"data.img\" }, { path = \"{out}/gen.img\" }]\n");
  Config c = Parse("[profiles]\nfrom_dir = \"profiles\"\n");
  const fs::path dir = tmp_.path() / "profiles/p";
  const Profile& p = c.profiles.at("p");
  EXPECT_EQ(p.build_out, dir / "out");
  EXPECT_EQ(p.kernel, dir / "out/vmlinuz");
  EXPECT_EQ(*p.agent_overlay_path, dir / "overlay.cpio.gz");
  ASSERT_EQ(p.disks.size(), 2u);
  EXPECT_EQ(*p.disks[0].path, dir / "data.img");
  EXPECT_EQ(*p.disks[1].path, dir / "out/gen.img");
}

TEST_F(FromDirTest, OnlyImmediateSubdirectoriesAreProfiles) {
  WriteProfile("top", "kernel = \"k\"\ncmdline = \"c\"\n");
  WriteProfile("group/nested", "kernel = \"k\"\ncmdline = \"c\"\n");
  Config c = Parse("[profiles]\nfrom_dir = \"profiles\"\n");
  EXPECT_EQ(c.profiles.size(), 1u);
  EXPECT_EQ(c.profiles.count("top"), 1u);
}

TEST_F(FromDirTest, OutIsAbsoluteInDiscoveredProfiles) {
  WriteProfile("gen", "build = \"./mk.sh {out}\"\nkernel = \"{out}/vmlinuz\"\ncmdline = \"q\"\n");
  Config c = Parse("[profiles]\nfrom_dir = \"profiles\"\n");
  const Profile& p = c.profiles.at("gen");
  EXPECT_TRUE(p.build_out.is_absolute());
  EXPECT_EQ(p.build_out, tmp_.path() / "builds" / "gen");
  EXPECT_EQ(*p.build, "./mk.sh " + (tmp_.path() / "builds" / "gen").string());
  EXPECT_EQ(p.kernel, tmp_.path() / "builds" / "gen" / "vmlinuz");
}

TEST_F(FromDirTest, CoexistsWithInlineProfiles) {
  WriteProfile("disc", "kernel = \"k\"\ncmdline = \"c\"\n");
  Config c = Parse(R"(
[profiles]
from_dir = "profiles"

[profiles.inline]
kernel = "k"
cmdline = "c"
)");
  EXPECT_EQ(c.profiles.size(), 2u);
  EXPECT_EQ(c.profiles.at("inline").kernel, cwd() / "k");
  EXPECT_EQ(c.profiles.at("disc").kernel, tmp_.path() / "profiles/disc/k");
}

TEST_F(FromDirTest, NameDefinedInlineAndInDirectoryIsAnError) {
  WriteProfile("dup", "kernel = \"k\"\ncmdline = \"c\"\n");
  std::string e = Error(R"(
[profiles]
from_dir = "profiles"

[profiles.dup]
kernel = "k"
cmdline = "c"
)");
  EXPECT_TRUE(StartsWith(e, InvalidPrefix()));
  EXPECT_TRUE(Contains(e, "dup"));
}

TEST_F(FromDirTest, DirectoryWithoutProfilesIsAnError) {
  fs::create_directories(tmp_.path() / "profiles/empty");
  std::string e = Error("[profiles]\nfrom_dir = \"profiles\"\n");
  EXPECT_TRUE(StartsWith(e, InvalidPrefix()));
}

TEST_F(FromDirTest, MissingDirectoryIsAnError) {
  EXPECT_TRUE(StartsWith(Error("[profiles]\nfrom_dir = \"nowhere\"\n"), InvalidPrefix()));
}

TEST_F(FromDirTest, DiscoveredProfileIsValidatedToo) {
  WriteProfile("bad", "kernel = \"k\"\n");
  std::string e = Error("[profiles]\nfrom_dir = \"profiles\"\n");
  EXPECT_TRUE(StartsWith(e, InvalidPrefix()));
  EXPECT_TRUE(
      Contains(e, "profile `bad` has empty cmdline and no `cmdline_file`; set at least one"));
}

TEST_F(FromDirTest, UnknownKeyInDiscoveredProfileIsAnError) {
  WriteProfile("bad", "kernel = \"k\"\ncmdline = \"c\"\nappend = \"x\"\n");
  std::string e = Error("[profiles]\nfrom_dir = \"profiles\"\n");
  EXPECT_TRUE(StartsWith(e, InvalidPrefix()));
  EXPECT_TRUE(Contains(e, "append"));
}

TEST_F(FromDirTest, ProfileFilesAreWatched) {
  WriteProfile("p", "kernel = \"k\"\ncmdline = \"c\"\n");
  Config c = Parse("[profiles]\nfrom_dir = \"profiles\"\n");
  auto watched = c.watched_files();
  EXPECT_NE(
      std::find(watched.begin(), watched.end(), tmp_.path() / "profiles/p/profile.provium.toml"),
      watched.end());
}

// ---- load() and the fixture cache fallbacks ----

TEST_F(ConfigTest, LoadOfMissingDefaultFileGivesDefaults) {
  Config c = load(tmp_.path() / "absent.toml", /*explicit_path=*/false);
  EXPECT_TRUE(c.profiles.empty());
  EXPECT_FALSE(c.file_exists);
}

TEST_F(ConfigTest, LoadOfMissingExplicitFileIsAReadError) {
  fs::path missing = tmp_.path() / "absent.toml";
  try {
    load(missing, /*explicit_path=*/true);
    ADD_FAILURE() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_TRUE(StartsWith(e.what(), "read `" + missing.string() + "`: "));
  }
}

TEST_F(ConfigTest, EffectiveCacheDirFallbacks) {
  Config c = Parse("");
  {
    ScopedEnv fc("PROVIUM_FIXTURE_CACHE", "/tmp/fc");
    EXPECT_EQ(c.effective_cache_dir(), fs::path("/tmp/fc"));
  }
  ScopedEnv no_fc("PROVIUM_FIXTURE_CACHE", std::nullopt);
  {
    ScopedEnv xdg("XDG_CACHE_HOME", "/tmp/xdg");
    EXPECT_EQ(c.effective_cache_dir(), fs::path("/tmp/xdg/provium/fixtures"));
  }
  {
    ScopedEnv home("HOME", "/tmp/home");
    EXPECT_EQ(c.effective_cache_dir(), fs::path("/tmp/home/.cache/provium/fixtures"));
  }
  ScopedEnv no_home("HOME", std::nullopt);
  EXPECT_EQ(c.effective_cache_dir(), fs::path("/tmp/provium-fixtures"));
}

}  // namespace
}  // namespace provium::config
