// End-to-end checks of provium.toml loading: missing/unreadable files, TOML syntax errors,
// validation errors, `[provium] roots`. Spec: REFERENCE §3.1–§3.3, §3.6, §3.7.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "json_support.hpp"

using namespace provium::e2e;

namespace {

// A config problem: exit 2, the tests never ran, stderr carries `what`.
void expect_config_error(const RunOutput& r, const std::string& what) {
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, what)) << "stderr lacks [" << what << "]:\n" << r.err;
  EXPECT_FALSE(contains(r.out, "PASS")) << r.out;
  EXPECT_FALSE(contains(r.out, "file(s);")) << r.out;
}

const char* kGoodProfile =
    "[profiles.vm]\n"
    "kernel = \"images/vmlinuz\"\n"
    "cmdline = \"console=ttyS0\"\n";

}  // namespace

// ---- loading ----------------------------------------------------------------------------------

TEST(ConfigLoad, MissingDefaultConfigIsFine) {
  Project p;
  write_passing(p);
  auto r = suite(p, {"tests"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
}

TEST(ConfigLoad, EmptyFileIsValid) {
  Project p;
  write_passing(p);
  p.write("provium.toml", "");
  auto r = suite(p, {"tests"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(ConfigLoad, ExplicitMissingConfigIsAReadError) {
  Project p;
  write_passing(p);
  auto r = suite(p, {"tests", "--config", "nope.toml"});
  expect_config_error(r, "read `");
  EXPECT_TRUE(contains(r.err, "nope.toml`")) << r.err;
}

TEST(ConfigLoad, ConfigOptionPicksAnotherFile) {
  Project p;
  write_passing(p, "suite/a.test.lua");
  write_passing(p, "other/b.test.lua");
  p.write("provium.toml", "this is = = not toml\n");
  p.write("ci/provium-ci.toml", "[provium]\nroots = [\"suite\"]\n");
  auto r = suite(p, {"--config", "ci/provium-ci.toml", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(paths_run(r), (std::set<std::string>{"suite/a.test.lua"}));
}

TEST(ConfigLoad, SyntaxErrorNamesFileAndLine) {
  Project p;
  write_passing(p);
  p.write("provium.toml",
          "[provium]\n"
          "roots = [\"tests\"]\n"
          "cache_dir = \n");
  auto r = suite(p, {"tests"});
  expect_config_error(r, "parse `");
  EXPECT_TRUE(contains(r.err, "provium.toml`")) << r.err;
  EXPECT_TRUE(contains(r.err, "line 3")) << "no line number: " << r.err;
}

TEST(ConfigLoad, ProfileFieldsAreNotCheckedAtLoad) {
  // "Kernel, initrd, cmdline_file and images are checked at boot, not load."
  Project p;
  write_passing(p);
  p.write("provium.toml",
          "[profiles.vm]\n"
          "kernel = \"does/not/exist/bzImage\"\n"
          "initrd = \"nor/this.cpio.gz\"\n"
          "cmdline_file = \"missing-cmdline\"\n"
          "disks = [{ path = \"missing.img\", id = \"data\", readonly = true }]\n");
  auto r = suite(p, {"tests"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(ConfigLoad, FullExampleFromTheReferenceLoads) {
  Project p;
  write_passing(p);
  p.write("provium.toml",
          "[provium]\n"
          "roots = [\"tests\"]\n"
          "cache_max_size = \"20G\"\n"
          "\n"
          "[profiles.debian]\n"
          "kernel  = \"images/vmlinuz\"\n"
          "initrd  = \"images/busybox.cpio.gz\"\n"
          "cmdline = \"console=ttyS0 panic=1 quiet\"\n"
          "\n"
          "[profiles.built]\n"
          "kernel = \"{out}/vmlinuz\"\n"
          "initrd = \"{out}/initramfs.cpio.gz\"\n"
          "cmdline_file = \"{out}/cmdline\"\n"
          "disks  = [{ path = \"{out}/data.img\", id = \"data\", readonly = true }]\n");
  auto r = suite(p, {"--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(paths_run(r), (std::set<std::string>{"tests/ok.test.lua"}));
}

// ---- validation -------------------------------------------------------------------------------

TEST(ConfigValidate, UnknownKeyInProviumSection) {
  Project p;
  write_passing(p);
  p.write("provium.toml", "[provium]\nroots = []\nroot_dirs = [\"x\"]\n");
  auto r = suite(p, {"tests"});
  expect_config_error(r, "invalid config in `");
  EXPECT_TRUE(contains(r.err, "provium.toml`: ")) << r.err;
  EXPECT_TRUE(contains(r.err, "root_dirs")) << r.err;
  EXPECT_TRUE(contains(r.err, "line 3")) << "no line: " << r.err;
}

TEST(ConfigValidate, UnknownKeyInProfile) {
  Project p;
  write_passing(p);
  p.write("provium.toml", std::string(kGoodProfile) + "memory = \"1G\"\n");
  auto r = suite(p, {"tests"});
  expect_config_error(r, "invalid config in `");
  EXPECT_TRUE(contains(r.err, "memory")) << r.err;
  EXPECT_TRUE(contains(r.err, "`vm`")) << r.err;
  EXPECT_TRUE(contains(r.err, "line 4")) << r.err;
}

TEST(ConfigValidate, UnknownTopLevelTable) {
  Project p;
  write_passing(p);
  p.write("provium.toml", "[settings]\nx = 1\n");
  auto r = suite(p, {"tests"});
  expect_config_error(r, "invalid config in `");
  EXPECT_TRUE(contains(r.err, "settings")) << r.err;
}

TEST(ConfigValidate, GuestOsOtherThanLinux) {
  Project p;
  write_passing(p);
  p.write("provium.toml", std::string(kGoodProfile) + "guest_os = \"peios\"\n");
  auto r = suite(p, {"tests"});
  expect_config_error(r, "invalid config in `");
  EXPECT_TRUE(contains(r.err, "profile `vm` has guest_os = `peios`, only `linux` is supported"))
      << r.err;
}

TEST(ConfigValidate, GuestOsLinuxIsAccepted) {
  Project p;
  write_passing(p);
  p.write("provium.toml", std::string(kGoodProfile) + "guest_os = \"linux\"\n");
  EXPECT_EQ(suite(p, {"tests"}).exit_code, 0);
}

TEST(ConfigValidate, EmptyCmdlineWithoutCmdlineFile) {
  Project p;
  write_passing(p);
  p.write("provium.toml", "[profiles.bare]\nkernel = \"vmlinuz\"\ncmdline = \"\"\n");
  auto r = suite(p, {"tests"});
  expect_config_error(r, "invalid config in `");
  EXPECT_TRUE(
      contains(r.err, "profile `bare` has empty cmdline and no `cmdline_file`; set at least one"))
      << r.err;
  // Leaving cmdline out entirely is the same mistake.
  p.write("provium.toml", "[profiles.bare]\nkernel = \"vmlinuz\"\n");
  r = suite(p, {"tests"});
  expect_config_error(r,
                      "profile `bare` has empty cmdline and no `cmdline_file`; set at least one");
}

TEST(ConfigValidate, CmdlineFileAloneIsEnough) {
  Project p;
  write_passing(p);
  p.write("provium.toml", "[profiles.f]\nkernel = \"vmlinuz\"\ncmdline_file = \"cmdline.txt\"\n");
  EXPECT_EQ(suite(p, {"tests"}).exit_code, 0);
}

TEST(ConfigValidate, DuplicateDiskIds) {
  Project p;
  write_passing(p);
  p.write("provium.toml", std::string(kGoodProfile) +
                              "disks = [{ path = \"a.img\", id = \"data\" },\n"
                              "         { path = \"b.img\", id = \"data\" }]\n");
  auto r = suite(p, {"tests"});
  expect_config_error(r, "invalid config in `");
  EXPECT_TRUE(contains(r.err, "vm")) << r.err;
  EXPECT_TRUE(contains(r.err, "data")) << r.err;
  EXPECT_TRUE(contains(r.err, "duplicate")) << r.err;
}

TEST(ConfigValidate, DefaultDiskIdsCollideWithExplicitOnes) {
  // Profile disks default to `disk<N>`; an explicit id equal to one of those is a duplicate.
  Project p;
  write_passing(p);
  p.write("provium.toml",
          std::string(kGoodProfile) +
              "disks = [{ path = \"a.img\" }, { path = \"b.img\", id = \"disk0\" }]\n");
  auto r = suite(p, {"tests"});
  expect_config_error(r, "invalid config in `");
  EXPECT_TRUE(contains(r.err, "disk0")) << r.err;
}

TEST(ConfigValidate, InjectAgentFalseNeedsInitrd) {
  Project p;
  write_passing(p);
  p.write("provium.toml", std::string(kGoodProfile) + "inject_agent = false\n");
  auto r = suite(p, {"tests"});
  expect_config_error(r, "invalid config in `");
  EXPECT_TRUE(contains(r.err, "`vm`")) << r.err;
  EXPECT_TRUE(contains(r.err, "inject_agent")) << r.err;
  p.write("provium.toml",
          std::string(kGoodProfile) + "inject_agent = false\ninitrd = \"i.cpio\"\n");
  EXPECT_EQ(suite(p, {"tests"}).exit_code, 0);
}

TEST(ConfigValidate, BadCacheMaxSize) {
  Project p;
  write_passing(p);
  p.write("provium.toml", "[provium]\ncache_max_size = \"20X\"\n");
  auto r = suite(p, {"tests"});
  expect_config_error(r, "invalid config in `");
  EXPECT_TRUE(contains(r.err, "cache_max_size")) << r.err;
}

// ---- from_dir ---------------------------------------------------------------------------------

TEST(ConfigFromDir, MissingDirectory) {
  Project p;
  write_passing(p);
  p.write("provium.toml", "[profiles]\nfrom_dir = \"profiles\"\n");
  auto r = suite(p, {"tests"});
  expect_config_error(r, "invalid config in `");
  EXPECT_TRUE(contains(r.err, "profiles")) << r.err;
}

TEST(ConfigFromDir, DirectoryWithoutProfilesIsAnError) {
  Project p;
  write_passing(p);
  p.write("profiles/notes/README", "not a profile\n");
  p.write("profiles/other/other.toml", "kernel = \"x\"\n");
  p.write("provium.toml", "[profiles]\nfrom_dir = \"profiles\"\n");
  auto r = suite(p, {"tests"});
  expect_config_error(r, "invalid config in `");
  EXPECT_TRUE(contains(r.err, "from_dir")) << r.err;
}

TEST(ConfigFromDir, SubdirectoriesWithoutProfileFileAreSkipped) {
  Project p;
  write_passing(p);
  p.write("profiles/notes/README", "not a profile\n");
  p.write("profiles/small/profile.provium.toml", "kernel = \"vmlinuz\"\ncmdline = \"quiet\"\n");
  p.write("provium.toml", "[profiles]\nfrom_dir = \"profiles\"\n");
  auto r = suite(p, {"tests"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(ConfigFromDir, NameDefinedInlineAndInDirectory) {
  Project p;
  write_passing(p);
  p.write("profiles/small/profile.provium.toml", "kernel = \"vmlinuz\"\ncmdline = \"quiet\"\n");
  p.write("provium.toml",
          "[profiles]\n"
          "from_dir = \"profiles\"\n"
          "\n"
          "[profiles.small]\n"
          "kernel = \"other\"\n"
          "cmdline = \"quiet\"\n");
  auto r = suite(p, {"tests"});
  expect_config_error(r, "invalid config in `");
  EXPECT_TRUE(contains(r.err, "small")) << r.err;
}

TEST(ConfigFromDir, ValidationErrorInProfileFileNamesTheProfile) {
  Project p;
  write_passing(p);
  p.write("profiles/odd/profile.provium.toml",
          "kernel = \"vmlinuz\"\ncmdline = \"quiet\"\nguest_os = \"bsd\"\n");
  p.write("provium.toml", "[profiles]\nfrom_dir = \"profiles\"\n");
  auto r = suite(p, {"tests"});
  expect_config_error(r, "invalid config in `");
  EXPECT_TRUE(contains(r.err, "profile `odd` has guest_os = `bsd`, only `linux` is supported"))
      << r.err;
}

TEST(ConfigFromDir, SyntaxErrorInProfileFile) {
  Project p;
  write_passing(p);
  p.write("profiles/odd/profile.provium.toml", "kernel = \"vmlinuz\"\ncmdline = [\n");
  p.write("provium.toml", "[profiles]\nfrom_dir = \"profiles\"\n");
  auto r = suite(p, {"tests"});
  expect_config_error(r, "parse `");
  EXPECT_TRUE(contains(r.err, "profile.provium.toml`")) << r.err;
}

// ---- [provium] roots --------------------------------------------------------------------------

TEST(ConfigRoots, RootsAreScannedWhenNoPathsAreGiven) {
  Project p;
  write_passing(p, "suite/a.test.lua");
  write_passing(p, "suite/net/b.test.lua");
  write_passing(p, "elsewhere/c.test.lua");
  p.write("provium.toml", "[provium]\nroots = [\"suite\"]\n");
  auto r = suite(p, {"--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(paths_run(r), (std::set<std::string>{"suite/a.test.lua", "suite/net/b.test.lua"}));
}

TEST(ConfigRoots, CliPathsOverrideRoots) {
  Project p;
  write_passing(p, "suite/a.test.lua");
  write_passing(p, "elsewhere/c.test.lua");
  p.write("provium.toml", "[provium]\nroots = [\"suite\"]\n");
  auto r = suite(p, {"elsewhere", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(paths_run(r), (std::set<std::string>{"elsewhere/c.test.lua"}));
}

TEST(ConfigRoots, SeveralRoots) {
  Project p;
  write_passing(p, "one/a.test.lua");
  write_passing(p, "two/b.test.lua");
  write_passing(p, "three/c.test.lua");
  p.write("provium.toml", "[provium]\nroots = [\"one\", \"two\"]\n");
  auto r = suite(p, {"--json"});
  EXPECT_EQ(paths_run(r), (std::set<std::string>{"one/a.test.lua", "two/b.test.lua"}));
}

TEST(ConfigRoots, RootsServeRequire) {
  Project p;
  p.write("suite/lib/greet.lua", "return { hello = function() return \"hi\" end }\n");
  p.write("suite/pkg/init.lua", "return { name = \"pkg\" }\n");
  p.write("suite/net/a.test.lua",
          "local greet = require(\"lib.greet\")\n"
          "local pkg = require(\"pkg\")\n"
          "test(\"require through roots\", function(t)\n"
          "  t:assert_eq(greet.hello(), \"hi\")\n"
          "  t:assert_eq(pkg.name, \"pkg\")\n"
          "end)\n");
  p.write("provium.toml", "[provium]\nroots = [\"suite\"]\n");
  auto r = suite(p, {"--json"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST(ConfigRoots, FilterIsRelativeToTheConfiguredRoot) {
  Project p;
  write_passing(p, "suite/net/a.test.lua");
  write_passing(p, "suite/disk/b.test.lua");
  p.write("provium.toml", "[provium]\nroots = [\"suite\"]\n");
  auto r = suite(p, {"--json", "--filter", "net/a"});
  EXPECT_EQ(paths_run(r), (std::set<std::string>{"suite/net/a.test.lua"}));
  r = suite(p, {"--json", "--filter", "suite/"});
  EXPECT_EQ(paths_run(r).size(), 0u) << r.out;
}

TEST(ConfigRoots, RelativeRootsResolveAgainstTheWorkingDirectory) {
  Project p;
  write_passing(p, "work/suite/a.test.lua");
  p.write("work/provium.toml", "[provium]\nroots = [\"suite\"]\n");
  auto r = suite(p, {"--json"}, {}, p.dir() / "work");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(paths_run(r), (std::set<std::string>{"suite/a.test.lua"}));
}

// ---- `root`: a composed root tree whose kernel is located at boot ---------------------------

namespace {

// A profile whose kernel lives in a root tree its build makes (nothing is built here).
const char* kRootProfile =
    "[profiles.os]\n"
    "build_out = \"out\"\n"
    "build = \"mkdir -p {out}/root/usr/lib/modules/6.1.0 && echo k > "
    "{out}/root/usr/lib/modules/6.1.0/vmlinuz\"\n"
    "root = \"{out}/root\"\n"
    "cmdline = \"console=ttyS0\"\n";

}  // namespace

TEST(ConfigRootProfile, ListingNeverNeedsTheTree) {
  Project p;
  write_passing(p);
  p.write("tests/boots.test.lua",
          "local vm = provium:vm(\"a\", \"os\")\n"
          "test(\"boots\", function(t) vm:boot() end)\n");
  p.write("provium.toml", kRootProfile);
  for (auto& args :
       std::vector<std::vector<std::string>>{{"list"}, {"list", "--tests"}, {"list", "--json"}}) {
    auto r = p.run(args);
    EXPECT_EQ(r.exit_code, 0) << args.back() << ": " << r.out << r.err;
    EXPECT_TRUE(contains(r.out, "boots.test.lua")) << r.out;
    EXPECT_EQ(r.err, "") << args.back();
  }
  EXPECT_FALSE(fs::exists(p.dir() / "out")) << "listing must not build";
}

TEST(ConfigRootProfile, ConsoleFindsTheKernelTheBuildPutInTheTree) {
  Project p;
  p.write("provium.toml", kRootProfile);
  auto r = p.run({"console", "os", "--print-command"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(
      contains(r.out, "-kernel " + (p.dir() / "out/root/usr/lib/modules/6.1.0/vmlinuz").string()))
      << r.out;
}

TEST(ConfigRootProfile, ConsoleWithoutTheTreeSaysWhereItLooked) {
  Project p;
  p.write("provium.toml",
          "[profiles.os]\nbuild_out = \"out\"\nroot = \"{out}/root\"\ncmdline = \"c\"\n");
  auto r = p.run({"console", "os", "--print-command"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "provium console: profile `os`: no kernel under root `" +
                                  (p.dir() / "out/root").string() + "`"))
      << r.err;
  EXPECT_TRUE(contains(r.err, "set `kernel` or build the tree")) << r.err;
}
