// End-to-end checks of `provium lsp-setup [DIR] [--force]` (REFERENCE §2.3, seed-cli
// "provium lsp-setup").
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "events_test_util.hpp"

using namespace provium::e2e;
using namespace provium::e2e::obs;

namespace {

using std::chrono::seconds;

void expect_types_file(const fs::path& dir) {
  fs::path types = dir / ".provium-meta" / "types.lua";
  ASSERT_TRUE(fs::is_regular_file(types)) << types;
  std::string s = read_file(types);
  EXPECT_EQ(s.rfind("---@meta", 0), 0u) << "types.lua must start with ---@meta:\n"
                                        << s.substr(0, 200);
  for (const char* word : {"test", "todo", "wait_until", "json", "provium", "TestContext",
                           "assert_eq", "Lab", "_provium_sleep"})
    EXPECT_TRUE(contains(s, word)) << "types.lua does not mention " << word;
}

void expect_luarc(const fs::path& dir) {
  fs::path rc = dir / ".luarc.json";
  ASSERT_TRUE(fs::is_regular_file(rc)) << rc;
  ojson j;
  ASSERT_NO_THROW(j = ojson::parse(read_file(rc))) << read_file(rc);
  std::string dump = j.dump();
  EXPECT_TRUE(contains(dump, "Lua 5.4")) << dump;
  EXPECT_TRUE(contains(dump, ".provium-meta")) << dump;
}

TEST(LspSetup, WritesTypesAndLuarcIntoDir) {
  Project p;
  fs::create_directories(p.dir() / "tests");
  // No --no-preflight: lsp-setup must not need KVM or the guest tools.
  auto r = p.run({"lsp-setup", "tests"}, {}, seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  expect_types_file(p.dir() / "tests");
  expect_luarc(p.dir() / "tests");
  EXPECT_FALSE(fs::exists(p.dir() / ".luarc.json")) << "written outside DIR";
}

TEST(LspSetup, DirDefaultsToCwd) {
  Project p;
  fs::create_directories(p.dir() / "sub");
  auto r = p.run({"lsp-setup"}, {}, seconds(30), p.dir() / "sub");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  expect_types_file(p.dir() / "sub");
  expect_luarc(p.dir() / "sub");
}

TEST(LspSetup, ExistingLuarcIsKeptAndTheSnippetPrinted) {
  Project p;
  const std::string mine = "{\n  \"diagnostics.globals\": [\"my_global\"]\n}\n";
  p.write("tests/.luarc.json", mine);
  auto r = p.run({"lsp-setup", "tests"}, {}, seconds(30));
  EXPECT_EQ(p.read("tests/.luarc.json"), mine) << "an existing .luarc.json must not be modified";
  EXPECT_TRUE(contains(r.out + r.err, ".provium-meta")) << "the snippet to merge must be printed\n"
                                                        << r.out << r.err;
  expect_types_file(p.dir() / "tests");
}

TEST(LspSetup, ForceReplacesAnExistingLuarc) {
  Project p;
  p.write("tests/.luarc.json", "{\"diagnostics.globals\": [\"my_global\"]}\n");
  auto r = p.run({"lsp-setup", "tests", "--force"}, {}, seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  expect_luarc(p.dir() / "tests");
  EXPECT_FALSE(contains(p.read("tests/.luarc.json"), "my_global"));
  expect_types_file(p.dir() / "tests");
}

TEST(LspSetup, RerunRefreshesTypesFile) {
  Project p;
  fs::create_directories(p.dir() / "tests");
  ASSERT_EQ(p.run({"lsp-setup", "tests"}, {}, seconds(30)).exit_code, 0);
  p.write("tests/.provium-meta/types.lua", "stale\n");
  p.run({"lsp-setup", "tests"}, {}, seconds(30));
  expect_types_file(p.dir() / "tests");
}

TEST(LspSetup, MissingDirExits2) {
  Project p;
  auto r = p.run({"lsp-setup", "does/not/exist"}, {}, seconds(30));
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "does/not/exist")) << r.err;
  EXPECT_FALSE(fs::exists(p.dir() / "does"));
}

}  // namespace
