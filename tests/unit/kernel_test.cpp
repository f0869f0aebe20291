// Locating a profile's kernel at boot: `kernel`, else inside the profile's `root` tree
// (usr/lib/modules/<release>/vmlinuz, else boot/vmlinuz-<release>).
#include "config/kernel.hpp"

#include <gtest/gtest.h>

#include <string>

#include "config/config.hpp"
#include "fixture/key.hpp"
#include "unit_support.hpp"

namespace provium::config {
namespace {

using provium::unit::ScopedEnv;
using provium::unit::TempDir;

class KernelTest : public ::testing::Test {
 protected:
  Profile RootProfile() const {
    Profile p;
    p.name = "x";
    p.root = root();
    return p;
  }
  fs::path root() const { return tmp_.path() / "out/root"; }

  // The message of the KernelError `p` raises; fails the test when it resolves.
  std::string Error(const Profile& p) {
    try {
      fs::path k = resolve_kernel(p);
      ADD_FAILURE() << "expected a KernelError, resolved " << k;
    } catch (const KernelError& e) {
      std::string what = e.what();
      EXPECT_EQ(what.find('\n'), std::string::npos) << "multi-line error: " << what;
      return what;
    }
    return "";
  }

  TempDir tmp_;
};

TEST_F(KernelTest, KernelInstallLayout) {
  tmp_.write("out/root/usr/lib/modules/6.1.0-18-amd64/vmlinuz", "k");
  tmp_.write("out/root/usr/lib/modules/6.1.0-18-amd64/modules.dep", "");
  EXPECT_EQ(resolve_kernel(RootProfile()), root() / "usr/lib/modules/6.1.0-18-amd64/vmlinuz");
}

TEST_F(KernelTest, BootLayout) {
  tmp_.write("out/root/boot/vmlinuz-6.1.0-18-amd64", "k");
  tmp_.write("out/root/boot/config-6.1.0-18-amd64", "");
  tmp_.write("out/root/boot/vmlinuz", "not a release name");
  EXPECT_EQ(resolve_kernel(RootProfile()), root() / "boot/vmlinuz-6.1.0-18-amd64");
}

TEST_F(KernelTest, KernelInstallLayoutComesFirst) {
  tmp_.write("out/root/usr/lib/modules/6.2/vmlinuz", "k");
  tmp_.write("out/root/boot/vmlinuz-6.1", "old");
  tmp_.write("out/root/boot/vmlinuz-6.2", "k");
  EXPECT_EQ(resolve_kernel(RootProfile()), root() / "usr/lib/modules/6.2/vmlinuz");
}

TEST_F(KernelTest, ModuleDirectoriesWithoutAKernelAreSkipped) {
  tmp_.write("out/root/usr/lib/modules/6.1/modules.dep", "");  // modules only
  tmp_.write("out/root/boot/vmlinuz-6.1", "k");
  EXPECT_EQ(resolve_kernel(RootProfile()), root() / "boot/vmlinuz-6.1");
}

TEST_F(KernelTest, AbsoluteSymlinksResolveInsideTheTree) {
  // A distribution tree links its kernel with an absolute target meant for the guest.
  tmp_.write("out/root/boot/vmlinuz-6.1", "k");
  fs::create_directories(root() / "usr/lib/modules/6.1");
  fs::create_symlink("/boot/vmlinuz-6.1", root() / "usr/lib/modules/6.1/vmlinuz");
  EXPECT_EQ(resolve_kernel(RootProfile()), root() / "boot/vmlinuz-6.1");
}

TEST_F(KernelTest, NoKernelIsAClearError) {
  fs::create_directories(root() / "usr/lib/modules/6.1");
  fs::create_directories(root() / "boot");
  EXPECT_EQ(Error(RootProfile()),
            "profile `x`: no kernel under root `" + root().string() +
                "` (looked for usr/lib/modules/*/vmlinuz and boot/vmlinuz-*); set `kernel` or "
                "build the tree");
}

TEST_F(KernelTest, MissingTreeSaysSo) {
  EXPECT_EQ(Error(RootProfile()),
            "profile `x`: no kernel under root `" + root().string() +
                "` (the directory does not exist; looked for usr/lib/modules/*/vmlinuz and "
                "boot/vmlinuz-*); set `kernel` or build the tree");
}

TEST_F(KernelTest, RootThatIsAFileSaysSo) {
  tmp_.write("out/root", "not a tree");
  std::string e = Error(RootProfile());
  EXPECT_NE(e.find("(it is not a directory; looked for"), std::string::npos) << e;
}

TEST_F(KernelTest, SeveralKernelsAreListed) {
  tmp_.write("out/root/usr/lib/modules/6.2/vmlinuz", "k");
  tmp_.write("out/root/usr/lib/modules/6.1/vmlinuz", "k");
  EXPECT_EQ(Error(RootProfile()),
            "profile `x`: several kernels under root `" + root().string() +
                "`: usr/lib/modules/6.1/vmlinuz, usr/lib/modules/6.2/vmlinuz; set `kernel` to "
                "one of them");
}

TEST_F(KernelTest, SeveralBootKernelsAreListed) {
  tmp_.write("out/root/boot/vmlinuz-6.1", "k");
  tmp_.write("out/root/boot/vmlinuz-6.2", "k");
  std::string e = Error(RootProfile());
  EXPECT_NE(e.find("several kernels under root"), std::string::npos) << e;
  EXPECT_NE(e.find("boot/vmlinuz-6.1, boot/vmlinuz-6.2"), std::string::npos) << e;
}

TEST_F(KernelTest, KernelWinsOverRoot) {
  tmp_.write("out/root/usr/lib/modules/6.1/vmlinuz", "k");
  Profile p = RootProfile();
  p.kernel = tmp_.path() / "bzImage";  // need not exist: checked at boot
  EXPECT_EQ(resolve_kernel(p), tmp_.path() / "bzImage");
  // ... even when the tree would be ambiguous.
  tmp_.write("out/root/usr/lib/modules/6.2/vmlinuz", "k");
  EXPECT_EQ(resolve_kernel(p), tmp_.path() / "bzImage");
}

TEST_F(KernelTest, NeitherKernelNorRoot) {
  Profile p;
  p.name = "x";
  EXPECT_EQ(Error(p), "profile `x` has no `kernel` or `root`");
}

// ---- fixture keys: a root whose kernel is not there yet is keyed, not an error ----

TEST_F(KernelTest, FixtureKeyOfAnUnbuiltRootIsComputedAndChangesOnceBuilt) {
  fixture::KeyComputer keys(fixture::KeyEnv{});
  Profile p = RootProfile();
  std::string unbuilt;
  ASSERT_NO_THROW(unbuilt = keys.profile_digest(p));
  EXPECT_EQ(unbuilt.size(), 64u);
  tmp_.write("out/root/usr/lib/modules/6.1/vmlinuz", "kernel one");
  fixture::KeyComputer keys2(fixture::KeyEnv{});
  std::string built = keys2.profile_digest(p);
  EXPECT_NE(built, unbuilt);
  // Keyed by the kernel found there, like `kernel` (plus the root path).
  Profile explicit_kernel = p;
  explicit_kernel.kernel = root() / "usr/lib/modules/6.1/vmlinuz";
  EXPECT_EQ(keys2.profile_digest(explicit_kernel), built);
}

// ---- config: `root` is a profile field, checked at boot only ----

class RootConfigTest : public ::testing::Test {
 protected:
  RootConfigTest() : build_dir_("PROVIUM_BUILD_DIR", (tmp_.path() / "builds").string()) {}
  Config Parse(const std::string& text) {
    return parse(text, tmp_.path() / "provium.toml", tmp_.path());
  }
  std::string Error(const std::string& text) {
    try {
      Parse(text);
    } catch (const ConfigError& e) {
      return e.what();
    }
    ADD_FAILURE() << "expected a ConfigError for:\n" << text;
    return "";
  }
  TempDir tmp_;
  ScopedEnv build_dir_;
};

TEST_F(RootConfigTest, RootAloneLoadsWithoutTheTree) {
  Config c = Parse(
      "[profiles.os]\nbuild = \"./mkroot.sh {out}\"\nroot = \"{out}/root\"\n"
      "cmdline = \"console=ttyS0\"\n");
  const Profile& p = c.profiles.at("os");
  ASSERT_TRUE(p.root);
  EXPECT_EQ(*p.root, tmp_.path() / "builds/os/root");
  EXPECT_TRUE(p.kernel.empty());
  EXPECT_FALSE(fs::exists(*p.root));
}

TEST_F(RootConfigTest, RelativeRootResolvesLikeKernel) {
  Config c = Parse(
      "[profiles.os]\nroot = \"trees/debian\"\nkernel = \"images/vmlinuz\"\n"
      "cmdline = \"c\"\n");
  const Profile& p = c.profiles.at("os");
  EXPECT_EQ(*p.root, tmp_.path() / "trees/debian");
  EXPECT_EQ(p.kernel, tmp_.path() / "images/vmlinuz");
}

TEST_F(RootConfigTest, RootInADiscoveredProfileResolvesAgainstItsDirectory) {
  tmp_.write("profiles/os/profile.provium.toml", "root = \"tree\"\ncmdline = \"c\"\n");
  Config c = Parse("[profiles]\nfrom_dir = \"profiles\"\n");
  EXPECT_EQ(*c.profiles.at("os").root, tmp_.path() / "profiles/os/tree");
}

TEST_F(RootConfigTest, NeitherKernelNorRootIsAnError) {
  std::string e = Error("[profiles.x]\ncmdline = \"c\"\n");
  EXPECT_NE(e.find("profile `x` has no `kernel` or `root`"), std::string::npos) << e;
  e = Error("[profiles.x]\nkernel = \"\"\nroot = \"\"\ncmdline = \"c\"\n");
  EXPECT_NE(e.find("profile `x` has no `kernel` or `root`"), std::string::npos) << e;
}

TEST_F(RootConfigTest, RootMustBeAString) {
  std::string e = Error("[profiles.x]\nroot = 3\ncmdline = \"c\"\n");
  EXPECT_NE(e.find("profile `x`: root must be a string"), std::string::npos) << e;
}

TEST_F(RootConfigTest, RootIsAmongTheKnownKeys) {
  std::string e = Error("[profiles.x]\nkernel = \"k\"\ncmdline = \"c\"\nrootfs = \"r\"\n");
  EXPECT_NE(e.find(", root)"), std::string::npos) << e;
}

}  // namespace
}  // namespace provium::config
