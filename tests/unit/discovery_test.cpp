// Discovery and file-level selection (REFERENCE §2.4 steps 1-4, §4.1).
#include "runner/discovery.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "unit_support.hpp"

namespace provium::runner {
namespace {

using provium::unit::TempDir;
using Strings = std::vector<std::string>;

Strings RootRel(const std::vector<TestFile>& files) {
  Strings out;
  for (auto& f : files) out.push_back(f.root_rel);
  return out;
}

class DiscoveryTest : public ::testing::Test {
 protected:
  Discovery Discover(const std::string& suffix = ".test.lua") {
    return discover({tmp_.path().string()}, {}, suffix);
  }
  TempDir tmp_;
};

TEST_F(DiscoveryTest, FindsOnlyTestFilesRecursively) {
  tmp_.write("a.test.lua");
  tmp_.write("sub/b.test.lua");
  tmp_.write("sub/deeper/c.test.lua");
  tmp_.write("build.fixture.lua");
  tmp_.write("sub/net.fixture.lua");
  tmp_.write("helpers.lua");
  tmp_.write("sub/util.lua");
  tmp_.write("notes.test.lua.bak");
  tmp_.write("test.lua");
  tmp_.write("README.md");
  Discovery d = Discover();
  EXPECT_TRUE(d.problems.empty());
  EXPECT_EQ(RootRel(d.files), (Strings{"a.test.lua", "sub/b.test.lua", "sub/deeper/c.test.lua"}));
}

TEST_F(DiscoveryTest, RootRelativePathsUseForwardSlashes) {
  tmp_.write("x/y/z.test.lua");
  Discovery d = Discover();
  ASSERT_EQ(d.files.size(), 1u);
  EXPECT_EQ(d.files[0].root_rel, "x/y/z.test.lua");
  EXPECT_EQ(d.files[0].root, tmp_.path());
  EXPECT_EQ(d.files[0].abs, tmp_.path() / "x/y/z.test.lua");
  EXPECT_TRUE(d.files[0].abs.is_absolute());
}

TEST_F(DiscoveryTest, SortedByPathInByteOrder) {
  for (auto name :
       {"b.test.lua", "a/z.test.lua", "B.test.lua", "a.test.lua", "a-b.test.lua", "_u.test.lua"})
    tmp_.write(name);
  Discovery d = Discover();
  // Byte order: '-' (0x2d) < '.' (0x2e) < '/' (0x2f) < 'B' < '_' < 'a' < 'b'.
  EXPECT_EQ(RootRel(d.files), (Strings{"B.test.lua", "_u.test.lua", "a-b.test.lua", "a.test.lua",
                                       "a/z.test.lua", "b.test.lua"}));
  Strings display;
  for (auto& f : d.files) display.push_back(f.display);
  EXPECT_TRUE(std::is_sorted(display.begin(), display.end()));
}

TEST_F(DiscoveryTest, FixtureSuffixFindsOnlyFixtures) {
  tmp_.write("a.test.lua");
  tmp_.write("net/lab.fixture.lua");
  tmp_.write("helper.lua");
  Discovery d = Discover(".fixture.lua");
  EXPECT_EQ(RootRel(d.files), (Strings{"net/lab.fixture.lua"}));
}

TEST_F(DiscoveryTest, EmptyDirectoryFindsNothingWithoutProblems) {
  Discovery d = Discover();
  EXPECT_TRUE(d.files.empty());
  EXPECT_TRUE(d.problems.empty());
}

TEST_F(DiscoveryTest, ExplicitTestFileIsRelativeToItsDirectory) {
  fs::path f = tmp_.write("dir/one.test.lua");
  tmp_.write("dir/two.test.lua");
  Discovery d = discover({f.string()}, {});
  ASSERT_EQ(d.files.size(), 1u);
  EXPECT_EQ(d.files[0].abs, f);
  EXPECT_EQ(d.files[0].root_rel, "one.test.lua");
}

TEST_F(DiscoveryTest, MissingPathIsReportedAsAProblem) {
  Discovery d = discover({(tmp_.path() / "nope").string()}, {});
  EXPECT_TRUE(d.files.empty());
  ASSERT_EQ(d.problems.size(), 1u);
  EXPECT_NE(d.problems[0].find("nope"), std::string::npos);
}

TEST_F(DiscoveryTest, ExplicitPathThatIsNotATestFileIsAProblem) {
  fs::path fixture = tmp_.write("lab.fixture.lua");
  fs::path helper = tmp_.write("helper.lua");
  Discovery d = discover({fixture.string(), helper.string()}, {});
  EXPECT_TRUE(d.files.empty());
  EXPECT_EQ(d.problems.size(), 2u);
}

TEST_F(DiscoveryTest, SameFileReachedTwiceIsListedOnce) {
  tmp_.write("sub/a.test.lua");
  Discovery d = discover({tmp_.path().string(), (tmp_.path() / "sub").string()}, {});
  EXPECT_EQ(d.files.size(), 1u);
}

TEST_F(DiscoveryTest, ConfigRootsAreScannedWhenNoPathsAreGiven) {
  tmp_.write("tests/a.test.lua");
  tmp_.write("more/b.test.lua");
  tmp_.write("elsewhere/c.test.lua");
  Discovery d = discover({}, {tmp_.path() / "tests", tmp_.path() / "more"});
  EXPECT_EQ(RootRel(d.files), (Strings{"b.test.lua", "a.test.lua"}));
  ASSERT_EQ(d.roots.size(), 2u);
  EXPECT_EQ(d.roots[0], tmp_.path() / "tests");
}

TEST_F(DiscoveryTest, CliDirectoryActsAsRootWithoutConfigRoots) {
  tmp_.write("suite/x.test.lua");
  Discovery d = discover({(tmp_.path() / "suite").string()}, {});
  ASSERT_EQ(d.roots.size(), 1u);
  EXPECT_EQ(d.roots[0], tmp_.path() / "suite");
  EXPECT_EQ(RootRel(d.files), (Strings{"x.test.lua"}));
}

// ---- --filter ----

TEST_F(DiscoveryTest, FilterMatchesRootRelativeSubstring) {
  tmp_.write("net/dns.test.lua");
  tmp_.write("net/partition.test.lua");
  tmp_.write("boot/smoke.test.lua");
  auto files = Discover().files;
  apply_filter(files, "net/");
  EXPECT_EQ(RootRel(files), (Strings{"net/dns.test.lua", "net/partition.test.lua"}));
  files = Discover().files;
  apply_filter(files, "smoke");
  EXPECT_EQ(RootRel(files), (Strings{"boot/smoke.test.lua"}));
}

TEST_F(DiscoveryTest, FilterIgnoresTheRootItself) {
  // The temp root's own path contains "provium-unit"; only the root-relative part counts.
  tmp_.write("a.test.lua");
  auto files = Discover().files;
  apply_filter(files, "provium-unit");
  EXPECT_TRUE(files.empty());
}

TEST_F(DiscoveryTest, FilterIsAPlainSubstringNotAPattern) {
  tmp_.write("a.test.lua");
  tmp_.write("abtest.test.lua");
  auto files = Discover().files;
  apply_filter(files, "a.t");
  EXPECT_EQ(RootRel(files), (Strings{"a.test.lua"}));
  files = Discover().files;
  apply_filter(files, "*");
  EXPECT_TRUE(files.empty());
}

// ---- --since ----

TEST_F(DiscoveryTest, SinceKeepsOnlyStrictlyNewerFiles) {
  using namespace std::chrono_literals;
  fs::path ref = tmp_.write("ref.txt");
  fs::path older = tmp_.write("older.test.lua");
  fs::path same = tmp_.write("same.test.lua");
  fs::path newer = tmp_.write("newer.test.lua");
  auto t0 = fs::last_write_time(ref);
  fs::last_write_time(older, t0 - 10s);
  fs::last_write_time(same, t0);
  fs::last_write_time(newer, t0 + 10s);
  auto files = Discover().files;
  ASSERT_EQ(files.size(), 3u);
  auto err = apply_since(files, ref);
  EXPECT_FALSE(err) << *err;
  EXPECT_EQ(RootRel(files), (Strings{"newer.test.lua"}));
}

TEST_F(DiscoveryTest, SinceWithMissingReferenceIsAnError) {
  tmp_.write("a.test.lua");
  auto files = Discover().files;
  auto err = apply_since(files, tmp_.path() / "missing-ref");
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("missing-ref"), std::string::npos) << *err;
}

// ---- --rerun-failed ----

TEST_F(DiscoveryTest, RerunKeepsOnlyPreviouslyFailedFiles) {
  fs::path a = tmp_.write("a.test.lua");
  tmp_.write("b.test.lua");
  fs::path c = tmp_.write("sub/c.test.lua");
  auto files = Discover().files;
  apply_rerun(files, {fs::canonical(a).string(), fs::canonical(c).string(),
                      (tmp_.path() / "gone.test.lua").string()});
  EXPECT_EQ(RootRel(files), (Strings{"a.test.lua", "sub/c.test.lua"}));
}

TEST_F(DiscoveryTest, RerunComparesCanonicalPaths) {
  fs::path a = tmp_.write("real/a.test.lua");
  fs::create_directory_symlink(tmp_.path() / "real", tmp_.path() / "link");
  auto files = discover({(tmp_.path() / "link").string()}, {}).files;
  ASSERT_EQ(files.size(), 1u);
  apply_rerun(files, {a.string()});
  EXPECT_EQ(files.size(), 1u);
  files = discover({(tmp_.path() / "real").string()}, {}).files;
  apply_rerun(files, {(tmp_.path() / "link/./a.test.lua").string()});
  EXPECT_EQ(files.size(), 1u);
}

TEST_F(DiscoveryTest, RerunWithEmptyFailedSetKeepsNothing) {
  tmp_.write("a.test.lua");
  auto files = Discover().files;
  apply_rerun(files, {});
  EXPECT_TRUE(files.empty());
}

}  // namespace
}  // namespace provium::runner
