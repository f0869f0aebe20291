// The rerun-state file (REFERENCE §2.8, §2.6; seed-cli PROVIUM_RERUN_STATE).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "runner/discovery.hpp"
#include "unit_support.hpp"

namespace provium::runner {
namespace {

using provium::unit::ScopedEnv;
using provium::unit::TempDir;
using Strings = std::vector<std::string>;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(RerunStatePath, EnvironmentOverrideWins) {
  ScopedEnv state("PROVIUM_RERUN_STATE", "/tmp/custom-rerun.json");
  ScopedEnv home("HOME", "/tmp/somehome");
  EXPECT_EQ(rerun_state_path(), fs::path("/tmp/custom-rerun.json"));
}

TEST(RerunStatePath, DefaultsUnderHomeCache) {
  ScopedEnv state("PROVIUM_RERUN_STATE", std::nullopt);
  ScopedEnv home("HOME", "/tmp/somehome");
  EXPECT_EQ(rerun_state_path(), fs::path("/tmp/somehome/.cache/provium/rerun.json"));
}

TEST(RerunStatePath, FallsBackToTmpWithoutHome) {
  ScopedEnv state("PROVIUM_RERUN_STATE", std::nullopt);
  ScopedEnv home("HOME", std::nullopt);
  EXPECT_EQ(rerun_state_path(), fs::path("/tmp/provium-rerun.json"));
}

TEST(RerunState, MissingFileMeansNoState) {
  TempDir tmp;
  EXPECT_FALSE(read_rerun_state(tmp.path() / "rerun.json").has_value());
}

TEST(RerunState, WriteThenReadRoundTrips) {
  TempDir tmp;
  fs::path p = tmp.path() / "rerun.json";
  Strings failed{"/work/tests/a.test.lua", "/work/tests/sub/b.test.lua"};
  write_rerun_state(p, failed);
  auto back = read_rerun_state(p);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, failed);
}

TEST(RerunState, FileIsAJsonArrayOfPaths) {
  TempDir tmp;
  fs::path p = tmp.path() / "rerun.json";
  write_rerun_state(p, {"/x/a.test.lua", "/x/b.test.lua"});
  auto j = nlohmann::json::parse(Slurp(p));
  ASSERT_TRUE(j.is_array());
  EXPECT_EQ(j, nlohmann::json::parse(R"(["/x/a.test.lua", "/x/b.test.lua"])"));
}

TEST(RerunState, ReadsAHandWrittenArray) {
  TempDir tmp;
  fs::path p = tmp.write("rerun.json", R"(["/p/one.test.lua","/p/two.test.lua"])");
  auto back = read_rerun_state(p);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, (Strings{"/p/one.test.lua", "/p/two.test.lua"}));
}

TEST(RerunState, OverwriteReplacesThePreviousSet) {
  TempDir tmp;
  fs::path p = tmp.path() / "rerun.json";
  write_rerun_state(p, {"/old.test.lua", "/older.test.lua"});
  write_rerun_state(p, {"/new.test.lua"});
  EXPECT_EQ(*read_rerun_state(p), (Strings{"/new.test.lua"}));
}

TEST(RerunState, WriteIsAtomicAndLeavesNoTempFiles) {
  TempDir tmp;
  fs::path p = tmp.path() / "rerun.json";
  write_rerun_state(p, {"/a.test.lua"});
  write_rerun_state(p, {"/b.test.lua"});
  Strings names;
  for (auto& e : fs::directory_iterator(tmp.path())) names.push_back(e.path().filename());
  EXPECT_EQ(names, (Strings{"rerun.json"}));
}

TEST(RerunState, WriteCreatesMissingParentDirectories) {
  TempDir tmp;
  fs::path p = tmp.path() / "home/.cache/provium/rerun.json";
  write_rerun_state(p, {"/a.test.lua"});
  EXPECT_EQ(*read_rerun_state(p), (Strings{"/a.test.lua"}));
}

TEST(RerunState, GarbageFileIsAnError) {
  TempDir tmp;
  fs::path p = tmp.write("rerun.json", "this is {not json");
  EXPECT_THROW(read_rerun_state(p), std::runtime_error);
}

TEST(RerunState, NonArrayJsonIsAnError) {
  TempDir tmp;
  fs::path p = tmp.write("rerun.json", R"({"failed": ["/a.test.lua"]})");
  EXPECT_THROW(read_rerun_state(p), std::runtime_error);
  p = tmp.write("rerun2.json", "42");
  EXPECT_THROW(read_rerun_state(p), std::runtime_error);
}

TEST(RerunState, ErrorIsOneLineAndNamesTheFile) {
  TempDir tmp;
  fs::path p = tmp.write("rerun.json", "\x01\x02garbage");
  try {
    read_rerun_state(p);
    ADD_FAILURE() << "expected runtime_error";
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find(p.string()), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace provium::runner
