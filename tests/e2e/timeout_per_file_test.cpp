// End-to-end tests of the per-file --timeout (seed-cli.txt "Lifecycle"; REFERENCE §2.2, §10.7):
// a file that overruns is TIME / "timed_out", exit 1, promptly; unstarted tests are not
// reported; other files are unaffected; 0 disables the timeout.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "json_support.hpp"

using namespace provium::e2e;
using std::chrono::steady_clock;

namespace {

const char* kSpinFile = R"lua(
test("quick", function(t) end)
test("spin", function(t) while true do end end)
test("never started", function(t) end)
)lua";

}  // namespace

TEST(TimeoutPerFile, BusyFileTimesOutPromptly) {
  Project p;
  p.write("spin.test.lua", kSpinFile);
  p.write("fine.test.lua", "test(\"ok\", function(t) end)\n");
  auto start = steady_clock::now();
  auto r = p.run({"--json", "--timeout", "1"}, {}, std::chrono::seconds(30));
  auto took = steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::seconds(6)) << dump(r);
  EXPECT_GE(took, std::chrono::milliseconds(900)) << dump(r);
  EXPECT_EQ(r.exit_code, 1) << dump(r);
  EXPECT_EQ(r.signal, 0) << dump(r);
  auto f = file_of(r, "spin.test.lua");
  ASSERT_TRUE(f.is_object()) << dump(r);
  EXPECT_EQ(f["timeout"], "timed_out") << dump(r);
  EXPECT_EQ(f["passed"], false) << dump(r);
  EXPECT_EQ(test_of(f, "quick")["status"], "passed") << dump(r);
  auto spin = test_of(f, "spin");
  EXPECT_EQ(spin["status"], "failed") << dump(r);
  EXPECT_NE(message(spin).find("file timed out after 1s"), std::string::npos) << dump(r);
  EXPECT_TRUE(test_of(f, "never started").is_null()) << "unstarted tests are not reported\n"
                                                     << dump(r);
  auto fine = file_of(r, "fine.test.lua");
  ASSERT_TRUE(fine.is_object()) << dump(r);
  EXPECT_EQ(fine["timeout"], "in_time");
  EXPECT_EQ(fine["passed"], true);
}

TEST(TimeoutPerFile, PlainTextShowsTime) {
  Project p;
  p.write("spin.test.lua", kSpinFile);
  auto start = steady_clock::now();
  auto r = p.run({"--timeout", "500ms"}, {}, std::chrono::seconds(30));
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(6)) << dump(r);
  EXPECT_EQ(r.exit_code, 1) << dump(r);
  EXPECT_NE(r.out.find("TIME spin.test.lua ("), std::string::npos) << dump(r);
  EXPECT_EQ(r.out.find("never started"), std::string::npos) << dump(r);
}

TEST(TimeoutPerFile, PcallLoopCannotEscapeFileTimeout) {
  Project p;
  p.write("pcall.test.lua", R"lua(
test("pcall loop", function(t)
  while true do pcall(function() while true do end end) end
end)
)lua");
  auto start = steady_clock::now();
  auto r = p.run({"--json", "--timeout", "500ms"}, {}, std::chrono::seconds(30));
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(6)) << dump(r);
  EXPECT_EQ(r.exit_code, 1) << dump(r);
  auto f = file_of(r, "pcall.test.lua");
  ASSERT_TRUE(f.is_object()) << dump(r);
  EXPECT_EQ(f["timeout"], "timed_out") << dump(r);
}

TEST(TimeoutPerFile, BusyFileScopeTimesOut) {
  Project p;
  p.write("chunk.test.lua", "test(\"never\", function(t) end)\nwhile true do end\n");
  auto start = steady_clock::now();
  auto r = p.run({"--json", "--timeout", "1"}, {}, std::chrono::seconds(30));
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(6)) << dump(r);
  EXPECT_EQ(r.exit_code, 1) << dump(r);
  EXPECT_EQ(r.signal, 0) << dump(r);
  auto f = file_of(r, "chunk.test.lua");
  ASSERT_TRUE(f.is_object()) << dump(r);
  EXPECT_EQ(f["timeout"], "timed_out") << dump(r);
  EXPECT_EQ(f["passed"], false) << dump(r);
  EXPECT_TRUE(test_of(f, "never").is_null()) << dump(r);
}

TEST(TimeoutPerFile, BlockingWaitIsInterrupted) {
  Project p;
  p.write("wait.test.lua", R"lua(
test("waits", function(t)
  wait_until(function() return false end, {timeout = "60s", interval = "30s"})
end)
)lua");
  auto start = steady_clock::now();
  auto r = p.run({"--json", "--timeout", "500ms"}, {}, std::chrono::seconds(30));
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(6)) << dump(r);
  EXPECT_EQ(r.exit_code, 1) << dump(r);
  auto f = file_of(r, "wait.test.lua");
  ASSERT_TRUE(f.is_object()) << dump(r);
  EXPECT_EQ(f["timeout"], "timed_out") << dump(r);
}

TEST(TimeoutPerFile, ZeroDisables) {
  Project p;
  p.write("slowish.test.lua", R"lua(
test("takes a while", function(t)
  pcall(wait_until, function() return false end, {timeout = "1200ms", interval = "100ms"})
  t:log("done")
end)
)lua");
  auto r = p.run({"--json", "--timeout", "0"}, {}, std::chrono::seconds(30));
  EXPECT_EQ(r.exit_code, 0) << dump(r);
  auto f = file_of(r, "slowish.test.lua");
  ASSERT_TRUE(f.is_object()) << dump(r);
  EXPECT_EQ(f["timeout"], "in_time") << dump(r);
  EXPECT_EQ(test_of(f, "takes a while")["log"], json::array({"done"})) << dump(r);
}

TEST(TimeoutPerFile, FileUnderTheLimitIsInTime) {
  Project p;
  p.write("fine.test.lua", R"lua(
test("short wait", function(t)
  pcall(wait_until, function() return false end, {timeout = "300ms", interval = "50ms"})
end)
)lua");
  auto r = p.run({"--json", "--timeout", "5"}, {}, std::chrono::seconds(30));
  EXPECT_EQ(r.exit_code, 0) << dump(r);
  auto f = file_of(r, "fine.test.lua");
  ASSERT_TRUE(f.is_object()) << dump(r);
  EXPECT_EQ(f["timeout"], "in_time");
  EXPECT_EQ(f["passed"], true);
}
