// End-to-end tests of meta keys and file-scope configuration (REFERENCE §4.3, §4.7, §11.4;
// seed-meta-tags.txt): skip, slow, tags, invalid meta values, provium.<key>.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "json_support.hpp"

using namespace provium::e2e;

namespace {

const char* kSlowReason = "filtered: slow tests skipped (pass --include-slow)";

}  // namespace

TEST(FrameworkMeta, SkipForms) {
  Project p;
  p.write("skip.test.lua", R"lua(
test("skip true", {skip = true}, function(t) error("ran") end)
test("skip one", {skip = 1}, function(t) error("ran") end)
test("skip seven", {skip = 7}, function(t) error("ran") end)
test("skip string", {skip = "see issue #42"}, function(t) error("ran") end)
test("skip false", {skip = false}, function(t) t:log("ran") end)
test("skip zero", {skip = 0}, function(t) t:log("ran") end)
test("skip nil", {skip = nil}, function(t) t:log("ran") end)
)lua");
  auto r = p.run({"--json"});
  EXPECT_EQ(r.exit_code, 0) << dump(r);
  auto f = file_of(r, "skip.test.lua");
  ASSERT_TRUE(f.is_object()) << dump(r);
  for (auto name : {"skip true", "skip one", "skip seven"}) {
    auto t = test_of(f, name);
    EXPECT_EQ(t["status"], "skipped") << name << ": " << t.dump();
    EXPECT_EQ(message(t), "skipped (meta.skip)") << name;
  }
  auto s = test_of(f, "skip string");
  EXPECT_EQ(s["status"], "skipped") << s.dump();
  EXPECT_EQ(message(s), "skipped: see issue #42");
  for (auto name : {"skip false", "skip zero", "skip nil"}) {
    auto t = test_of(f, name);
    EXPECT_EQ(t["status"], "passed") << name << ": " << t.dump();
    EXPECT_EQ(t["log"], json::array({"ran"})) << name;
  }
}

TEST(FrameworkMeta, SlowSkippedUnlessIncludeSlow) {
  Project p;
  p.write("slow.test.lua", R"lua(
test("slow true", {slow = true}, function(t) t:log("ran") end)
test("slow one", {slow = 1}, function(t) t:log("ran") end)
test("slow false", {slow = false}, function(t) t:log("ran") end)
test("slow zero", {slow = 0}, function(t) t:log("ran") end)
test("fast", function(t) t:log("ran") end)
)lua");
  auto r = p.run({"--json"});
  EXPECT_EQ(r.exit_code, 0) << dump(r);
  auto f = file_of(r, "slow.test.lua");
  for (auto name : {"slow true", "slow one"}) {
    auto t = test_of(f, name);
    EXPECT_EQ(t["status"], "skipped") << name << ": " << t.dump();
    EXPECT_EQ(message(t), kSlowReason) << name;
    EXPECT_EQ(t["log"], json::array()) << name;
  }
  for (auto name : {"slow false", "slow zero", "fast"})
    EXPECT_EQ(test_of(f, name)["status"], "passed") << name << "\n" << dump(r);

  auto all = p.run({"--json", "--include-slow"});
  EXPECT_EQ(all.exit_code, 0) << dump(all);
  auto g = file_of(all, "slow.test.lua");
  ASSERT_TRUE(g.is_object()) << dump(all);
  for (auto& t : g["tests"]) {
    EXPECT_EQ(t["status"], "passed") << t.dump();
    EXPECT_EQ(t["log"], json::array({"ran"})) << t.dump();
  }
}

TEST(FrameworkMeta, SkipBeatsIncludeSlow) {
  Project p;
  p.write("both.test.lua",
          "test(\"both\", {slow = true, skip = \"broken\"}, function(t) error(\"ran\") end)\n");
  auto r = p.run({"--json", "--include-slow"});
  EXPECT_EQ(r.exit_code, 0) << dump(r);
  auto t = test_of(file_of(r, "both.test.lua"), "both");
  EXPECT_EQ(t["status"], "skipped") << dump(r);
  EXPECT_EQ(message(t), "skipped: broken") << dump(r);
}

TEST(FrameworkMeta, TagsAsStringOrArray) {
  Project p;
  p.write("tags.test.lua", R"lua(
test("string tag", {tags = "smoke"}, function(t) t:assert_eq(t.meta.tags, "smoke") end)
test("array tags", {tags = {"net", "dns"}}, function(t) t:assert_eq(t.meta.tags[2], "dns") end)
test("untagged", function(t) end)
)lua");
  {
    auto r = p.run({"--json", "--tag", "smoke", "--tag", "dns"});
    EXPECT_EQ(r.exit_code, 0) << dump(r);
    auto f = file_of(r, "tags.test.lua");
    EXPECT_EQ(test_of(f, "string tag")["status"], "passed") << dump(r);
    EXPECT_EQ(test_of(f, "array tags")["status"], "passed") << dump(r);
    EXPECT_EQ(test_of(f, "untagged")["status"], "skipped") << dump(r);
  }
  {
    auto r = p.run({"--json", "--no-tag", "dns"});
    EXPECT_EQ(r.exit_code, 0) << dump(r);
    auto f = file_of(r, "tags.test.lua");
    EXPECT_EQ(test_of(f, "string tag")["status"], "passed") << dump(r);
    EXPECT_EQ(test_of(f, "array tags")["status"], "skipped") << dump(r);
    EXPECT_EQ(test_of(f, "untagged")["status"], "passed") << dump(r);
  }
  {
    auto r = p.run({"--json", "--tag", "smoke", "--no-tag", "smoke"});
    auto f = file_of(r, "tags.test.lua");
    EXPECT_EQ(test_of(f, "string tag")["status"], "skipped") << "--no-tag wins\n" << dump(r);
  }
}

// REFERENCE §11.4: functions, userdata and cycles in meta become Null; the test still runs.
TEST(FrameworkMeta, FunctionInArbitraryKeyBecomesNullAndTestRuns) {
  Project p;
  p.write("fnmeta.test.lua", R"lua(
local cyc = {}
cyc.self = cyc
test("function value", {callback = function() end}, function(t) t:log("ran") end)
test("userdata and cycle", {lab = provium, loop = cyc}, function(t) t:log("ran") end)
test("fine", {n = 1, f = 1.5, s = "x", b = false, arr = {1, 2}, map = {k = {"v"}}},
  function(t) t:log("ran") end)
)lua");
  auto r = p.run({"--json"});
  EXPECT_EQ(r.exit_code, 0) << dump(r);
  EXPECT_EQ(r.signal, 0) << dump(r);
  auto f = file_of(r, "fnmeta.test.lua");
  ASSERT_TRUE(f.is_object()) << dump(r);
  for (auto name : {"function value", "userdata and cycle", "fine"}) {
    auto t = test_of(f, name);
    EXPECT_EQ(t["status"], "passed") << name << ": " << t.dump();
    EXPECT_EQ(t["log"], json::array({"ran"})) << name;
  }
}

// A value of an unsupported type in a key the runner interprets fails the test, naming the key;
// the body never runs.
TEST(FrameworkMeta, UnsupportedTypeInWellKnownKeyFailsNamingTheKey) {
  Project p;
  p.write("badmeta.test.lua", R"lua(
test("function timeout", {timeout = function() end}, function(t) t:log("ran") end)
test("function tags", {tags = function() end}, function(t) t:log("ran") end)
test("number tags", {tags = 5}, function(t) t:log("ran") end)
test("after", function(t) t:log("ran") end)
)lua");
  auto r = p.run({"--json"});
  EXPECT_EQ(r.exit_code, 1) << dump(r);
  EXPECT_EQ(r.signal, 0) << dump(r);
  auto f = file_of(r, "badmeta.test.lua");
  ASSERT_TRUE(f.is_object()) << dump(r);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"function timeout", "timeout"}, {"function tags", "tags"}, {"number tags", "tags"}};
  for (auto& [name, key] : cases) {
    auto t = test_of(f, name);
    EXPECT_EQ(t["status"], "failed") << name << ": " << t.dump();
    EXPECT_NE(message(t).find(key), std::string::npos) << name << ": " << t.dump();
    EXPECT_EQ(t["log"], json::array()) << name << ": the body must not run";
  }
  EXPECT_EQ(test_of(f, "after")["status"], "passed") << dump(r);
}

TEST(FrameworkMeta, BadTimeoutFailsNamingTheKey) {
  Project p;
  p.write("badtimeout.test.lua", R"lua(
test("unknown suffix", {timeout = "5 fortnights"}, function(t) t:log("ran") end)
test("table", {timeout = {}}, function(t) t:log("ran") end)
test("negative", {timeout = -3}, function(t) t:log("ran") end)
test("good string", {timeout = "5s"}, function(t) end)
test("good number", {timeout = 2.5}, function(t) end)
)lua");
  auto r = p.run({"--json"});
  EXPECT_EQ(r.exit_code, 1) << dump(r);
  auto f = file_of(r, "badtimeout.test.lua");
  ASSERT_TRUE(f.is_object()) << dump(r);
  for (auto name : {"unknown suffix", "table", "negative"}) {
    auto t = test_of(f, name);
    EXPECT_EQ(t["status"], "failed") << name << ": " << t.dump();
    EXPECT_NE(message(t).find("timeout"), std::string::npos) << name << ": " << t.dump();
    EXPECT_EQ(t["log"], json::array()) << name << ": the body must not run";
  }
  EXPECT_NE(message(test_of(f, "unknown suffix")).find("5 fortnights"), std::string::npos)
      << dump(r);
  EXPECT_EQ(test_of(f, "good string")["status"], "passed") << dump(r);
  EXPECT_EQ(test_of(f, "good number")["status"], "passed") << dump(r);
}

TEST(FrameworkMeta, UnknownFileConfigKeyRaisesListingKnownKeys) {
  Project p;
  p.write("cfg.test.lua",
          "test(\"a\", function(t) end)\n"
          "provium.tiemout = 5\n");
  p.write("fine.test.lua", "provium.timeout = \"30s\"\ntest(\"a\", function(t) end)\n");
  auto r = p.run({"--json"});
  EXPECT_EQ(r.exit_code, 1) << dump(r);
  auto f = file_of(r, "cfg.test.lua");
  ASSERT_TRUE(f.is_object()) << dump(r);
  ASSERT_TRUE(f["chunk_error"].is_string()) << dump(r);
  std::string ce = f["chunk_error"];
  EXPECT_NE(ce.find("tiemout"), std::string::npos) << ce;
  EXPECT_NE(ce.find("timeout"), std::string::npos) << ce;
  EXPECT_NE(ce.find("reset_between_tests"), std::string::npos) << ce;
  EXPECT_NE(ce.find("cfg.test.lua:2:"), std::string::npos) << ce;
  auto ok = file_of(r, "fine.test.lua");
  EXPECT_EQ(ok["passed"], true) << dump(r);
}

TEST(FrameworkMeta, ArbitraryKeysReachTheTest) {
  Project p;
  p.write("arb.test.lua", R"lua(
test("arb", {spec = "PSD §4.2.1", subsystems = {"peinit", "loregd"}, area = {boot = true}},
  function(t)
    t:assert_eq(t.meta.spec, "PSD §4.2.1")
    t:assert_eq(t.meta.subsystems[1], "peinit")
    t:assert_eq(t.meta.area.boot, true)
  end)
)lua");
  auto r = p.run({"--json", "--tag-meta", "subsystems=loregd"});
  EXPECT_EQ(r.exit_code, 0) << dump(r);
  EXPECT_EQ(test_of(file_of(r, "arb.test.lua"), "arb")["status"], "passed") << dump(r);
  auto r2 = p.run({"--json", "--tag-meta", "subsystems=nothing"});
  EXPECT_EQ(test_of(file_of(r2, "arb.test.lua"), "arb")["status"], "skipped") << dump(r2);
}
