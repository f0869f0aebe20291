// End-to-end tests of Ctrl-C (SIGINT/SIGTERM) during a run: provium stops the running files
// promptly, prints the partial results and the summary line, and exits 1 (seed-cli.txt exit
// codes; REFERENCE §2.5, §2.7, §10.7).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <regex>
#include <string>
#include <thread>

#include "json_support.hpp"

using namespace provium::e2e;
using std::chrono::steady_clock;

namespace {

const std::regex kSummary(R"(\d+ file\(s\); \d+ passed, \d+ failed, \d+ skipped.*; \d+\.\d\ds)");

// Starts provium on a project whose test loops forever, waits until the loop is running (the
// test touches a marker file first), sends `sig` and returns the result.
RunOutput interrupt_spinning_run(int sig, const std::vector<std::string>& extra_args) {
  Project p;
  p.write("done.test.lua", "test(\"quick\", function(t) end)\n");
  p.write("spin.test.lua", R"lua(
test("spin", function(t)
  io.open("started", "w"):close()
  while true do end
end)
)lua");
  std::vector<std::string> args = {"--timeout", "0"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  Background bg(p, args);
  auto deadline = steady_clock::now() + std::chrono::seconds(20);
  while (!fs::exists(p.dir() / "started") && steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(fs::exists(p.dir() / "started")) << "the spinning test never started";
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto sent = steady_clock::now();
  bg.signal(sig);
  auto r = bg.wait(std::chrono::seconds(15));
  EXPECT_LT(steady_clock::now() - sent, std::chrono::seconds(10)) << dump(r);
  return r;
}

}  // namespace

TEST(Signal, SigintStopsABusyRunAndPrintsSummary) {
  auto r = interrupt_spinning_run(SIGINT, {});
  EXPECT_FALSE(r.timed_out) << dump(r);
  EXPECT_EQ(r.signal, 0) << "provium must exit, not die of the signal\n" << dump(r);
  EXPECT_EQ(r.exit_code, 1) << dump(r);
  EXPECT_TRUE(std::regex_search(r.out, kSummary)) << dump(r);
  // The file that finished before the interrupt is reported.
  EXPECT_NE(r.out.find("done.test.lua"), std::string::npos) << dump(r);
}

// SIGTERM is not specified beyond ending the run; it must at least not leave provium spinning.
TEST(Signal, SigtermEndsTheRunPromptly) {
  auto r = interrupt_spinning_run(SIGTERM, {});
  EXPECT_FALSE(r.timed_out) << dump(r);
  EXPECT_NE(r.exit_code, 0) << dump(r);
}

TEST(Signal, SigintWithJsonExitsOne) {
  auto r = interrupt_spinning_run(SIGINT, {"--json"});
  EXPECT_FALSE(r.timed_out) << dump(r);
  EXPECT_EQ(r.signal, 0) << dump(r);
  EXPECT_EQ(r.exit_code, 1) << dump(r);
  EXPECT_NE(r.out.find("\"path\":\"done.test.lua\""), std::string::npos) << dump(r);
}

TEST(Signal, SigintDuringBlockingWait) {
  Project p;
  p.write("wait.test.lua", R"lua(
test("waits", function(t)
  io.open("started", "w"):close()
  wait_until(function() return false end, {timeout = "10m", interval = "5m"})
end)
)lua");
  Background bg(p, {"--timeout", "0"});
  auto deadline = steady_clock::now() + std::chrono::seconds(20);
  while (!fs::exists(p.dir() / "started") && steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(fs::exists(p.dir() / "started"));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto sent = steady_clock::now();
  bg.signal(SIGINT);
  auto r = bg.wait(std::chrono::seconds(15));
  EXPECT_LT(steady_clock::now() - sent, std::chrono::seconds(10)) << dump(r);
  EXPECT_EQ(r.exit_code, 1) << dump(r);
  EXPECT_TRUE(std::regex_search(r.out, kSummary)) << dump(r);
}
