// The cache layout's pure file logic (REFERENCE §8.5-8.6): an entry exists once its manifest
// does, a size mismatch is damage, LRU eviction removes the least recently used first.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "fixture/cache.hpp"

namespace fs = std::filesystem;
using provium::fixture::Cache;

namespace {

struct TempDir {
  fs::path p = fs::temp_directory_path() / ("provium-cache-test-" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(p); }
  ~TempDir() { fs::remove_all(p); }
};

std::string key_of(char c) { return std::string(64, c); }

void add_vm_entry(Cache& c, const std::string& key, std::size_t bytes, long atime) {
  fs::path staged = c.dir() / ("staged-" + key);
  std::ofstream(staged) << std::string(bytes, 'x');
  c.install_vm(key, staged, {{"fixture", "f/" + key.substr(0, 1)}});
  struct timespec t[2] = {{atime, 0}, {atime, 0}};
  ::utimensat(AT_FDCWD, c.manifest_path(key).c_str(), t, 0);
}

}  // namespace

TEST(FixtureCache, EntryExistsOnceItsManifestDoes) {
  TempDir d;
  Cache c(d.p);
  EXPECT_FALSE(c.find(key_of('a')));
  add_vm_entry(c, key_of('a'), 10000, 1000);
  auto e = c.find(key_of('a'));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind, "vm");
  EXPECT_EQ(e->manifest.value("fixture", ""), "f/a");
  fs::remove(c.manifest_path(key_of('a')));
  std::string problem;
  EXPECT_FALSE(c.find(key_of('a'), &problem));
  EXPECT_NE(problem.find("no manifest"), std::string::npos) << problem;
}

TEST(FixtureCache, TruncatedSnapshotIsDamage) {
  TempDir d;
  Cache c(d.p);
  add_vm_entry(c, key_of('b'), 10000, 1000);
  fs::resize_file(c.snap_path(key_of('b')), 5000);
  std::string problem;
  EXPECT_FALSE(c.find(key_of('b'), &problem));
  EXPECT_NE(problem.find("truncated"), std::string::npos) << problem;
}

TEST(FixtureCache, LruEvictsTheOldestUntilUnderTheLimit) {
  TempDir d;
  Cache c(d.p);
  add_vm_entry(c, key_of('a'), 200000, 3000);  // newest
  add_vm_entry(c, key_of('b'), 200000, 1000);  // oldest
  add_vm_entry(c, key_of('c'), 200000, 2000);
  std::uint64_t one = c.find(key_of('a'))->bytes;
  auto removed = c.evict_to(2 * one);
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0], key_of('b'));
  EXPECT_TRUE(c.find(key_of('a')));
  EXPECT_TRUE(c.find(key_of('c')));
  EXPECT_EQ(c.list().size(), 2u);
  EXPECT_TRUE(c.evict_to(1ull << 40).empty());
}
