// End-to-end tests of --watch (seed-cli.txt "--watch", "--watch mode rediscovers from scratch
// every iteration"; REFERENCE §2.8): after the first run, only files whose inputs changed re-run
// (the test file itself or a module it required), new files run, a config change re-runs all,
// and Ctrl-C ends the loop.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <regex>
#include <string>
#include <thread>

#include "harness.hpp"

using namespace provium::e2e;
using std::chrono::steady_clock;

namespace {

const std::regex kSummary(R"((\d+) file\(s\); \d+ passed, \d+ failed, \d+ skipped[^\n]*)");

size_t count_summaries(const std::string& s) {
  return static_cast<size_t>(
      std::distance(std::sregex_iterator(s.begin(), s.end(), kSummary), std::sregex_iterator()));
}

// Waits until stdout holds `n` summary lines; returns stdout.
bool wait_for_summaries(Background& bg, size_t n, std::chrono::milliseconds limit) {
  auto deadline = steady_clock::now() + limit;
  while (steady_clock::now() < deadline) {
    if (count_summaries(bg.out()) >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// The text of iteration `i` (0-based): everything after the i-th summary line up to and
// including the (i+1)-th.
std::string iteration(const std::string& out, size_t i) {
  size_t start = 0, k = 0;
  for (auto it = std::sregex_iterator(out.begin(), out.end(), kSummary);
       it != std::sregex_iterator(); ++it, ++k) {
    size_t end = static_cast<size_t>(it->position() + it->length());
    if (k == i) return out.substr(start, end - start);
    start = end;
  }
  return "";
}

// Rewrites a file and moves its mtime well past anything recorded so far.
void touch(const Project& p, const std::string& rel, const std::string& content, int bump_s) {
  auto path = p.write(rel, content);
  fs::last_write_time(path, fs::file_time_type::clock::now() + std::chrono::seconds(bump_s));
}

const char* kAlpha = R"lua(
local helper = require("lib.helper")
test("alpha", function(t) t:assert_eq(helper.value(), 1) end)
)lua";
const char* kBeta = "test(\"beta\", function(t) end)\n";

class Watch : public ::testing::Test {
 protected:
  void SetUp() override {
    p_.write("tests/alpha.test.lua", kAlpha);
    p_.write("tests/beta.test.lua", kBeta);
    p_.write("tests/lib/helper.lua", "return {value = function() return 1 end}\n");
    bg_ = std::make_unique<Background>(p_, std::vector<std::string>{"--watch", "tests"});
    ASSERT_TRUE(wait_for_summaries(*bg_, 1, std::chrono::seconds(30))) << bg_->out() << bg_->err();
    // Let the watcher record the inputs of the first iteration before anything changes.
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  }
  void TearDown() override {
    if (!bg_) return;
    auto sent = steady_clock::now();
    bg_->signal(SIGINT);
    auto r = bg_->wait(std::chrono::seconds(15));
    EXPECT_FALSE(r.timed_out) << "--watch did not stop on SIGINT\n" << r.out << r.err;
    EXPECT_LT(steady_clock::now() - sent, std::chrono::seconds(10));
    EXPECT_EQ(r.signal, 0) << r.out << r.err;
  }
  std::string out() { return bg_->out(); }

  Project p_;
  std::unique_ptr<Background> bg_;
};

}  // namespace

TEST_F(Watch, FirstIterationRunsEverything) {
  auto first = iteration(out(), 0);
  EXPECT_NE(first.find("alpha.test.lua"), std::string::npos) << first;
  EXPECT_NE(first.find("beta.test.lua"), std::string::npos) << first;
  EXPECT_NE(first.find("2 file(s); 2 passed, 0 failed, 0 skipped"), std::string::npos) << first;
}

TEST_F(Watch, ChangedTestFileRerunsAlone) {
  touch(p_, "tests/beta.test.lua",
        "test(\"beta\", function(t) end)\ntest(\"beta2\", function(t) end)\n", 2);
  ASSERT_TRUE(wait_for_summaries(*bg_, 2, std::chrono::seconds(15))) << out() << bg_->err();
  auto second = iteration(out(), 1);
  EXPECT_NE(second.find("beta.test.lua"), std::string::npos) << second;
  EXPECT_EQ(second.find("alpha.test.lua"), std::string::npos) << second;
  EXPECT_NE(second.find("1 file(s); 2 passed, 0 failed, 0 skipped"), std::string::npos) << second;

  // A second edit of the other file re-runs that one alone.
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  touch(p_, "tests/alpha.test.lua",
        std::string(kAlpha) + "test(\"alpha fails\", function(t) t:fail() end)\n", 4);
  ASSERT_TRUE(wait_for_summaries(*bg_, 3, std::chrono::seconds(15))) << out() << bg_->err();
  auto third = iteration(out(), 2);
  EXPECT_NE(third.find("FAIL "), std::string::npos) << third;
  EXPECT_NE(third.find("alpha.test.lua"), std::string::npos) << third;
  EXPECT_EQ(third.find("beta.test.lua"), std::string::npos) << third;
  EXPECT_NE(third.find("1 file(s); 1 passed, 1 failed, 0 skipped"), std::string::npos) << third;
}

TEST_F(Watch, ChangedRequiredModuleRerunsRequiringFile) {
  touch(p_, "tests/lib/helper.lua", "return {value = function() return 2 end}\n", 2);
  ASSERT_TRUE(wait_for_summaries(*bg_, 2, std::chrono::seconds(15))) << out() << bg_->err();
  auto second = iteration(out(), 1);
  EXPECT_NE(second.find("alpha.test.lua"), std::string::npos) << second;
  EXPECT_EQ(second.find("beta.test.lua"), std::string::npos) << second;
  // The new helper makes alpha's assertion fail: the module was really reloaded.
  EXPECT_NE(second.find("1 file(s); 0 passed, 1 failed, 0 skipped"), std::string::npos) << second;
  EXPECT_NE(second.find("2 ~= 1"), std::string::npos) << second;
}

TEST_F(Watch, NewFileRunsAlone) {
  touch(p_, "tests/gamma.test.lua", "test(\"gamma\", function(t) end)\n", 2);
  ASSERT_TRUE(wait_for_summaries(*bg_, 2, std::chrono::seconds(15))) << out() << bg_->err();
  auto second = iteration(out(), 1);
  EXPECT_NE(second.find("gamma.test.lua"), std::string::npos) << second;
  EXPECT_EQ(second.find("alpha.test.lua"), std::string::npos) << second;
  EXPECT_EQ(second.find("beta.test.lua"), std::string::npos) << second;
}

TEST_F(Watch, UnrelatedHelperChangeRerunsNothing) {
  touch(p_, "tests/lib/unused.lua", "return {}\n", 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  EXPECT_EQ(count_summaries(out()), 1u) << out();
}

TEST(WatchConfig, ConfigChangeRerunsAll) {
  Project p;
  p.write("provium.toml", "[provium]\n");
  p.write("alpha.test.lua", "test(\"alpha\", function(t) end)\n");
  p.write("beta.test.lua", kBeta);
  Background bg(p, {"--watch", "."});
  ASSERT_TRUE(wait_for_summaries(bg, 1, std::chrono::seconds(30))) << bg.out() << bg.err();
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  touch(p, "provium.toml", "[provium]\n# changed\n", 2);
  ASSERT_TRUE(wait_for_summaries(bg, 2, std::chrono::seconds(15))) << bg.out() << bg.err();
  auto second = iteration(bg.out(), 1);
  EXPECT_NE(second.find("alpha.test.lua"), std::string::npos) << second;
  EXPECT_NE(second.find("beta.test.lua"), std::string::npos) << second;
  bg.signal(SIGINT);
  auto r = bg.wait(std::chrono::seconds(15));
  EXPECT_FALSE(r.timed_out) << r.out << r.err;
}

TEST(WatchSignal, SigintDuringARunningIterationEndsWatch) {
  Project p;
  p.write("spin.test.lua", R"lua(
test("spin", function(t)
  io.open("started", "w"):close()
  while true do end
end)
)lua");
  Background bg(p, {"--watch", "--timeout", "0", "."});
  auto deadline = steady_clock::now() + std::chrono::seconds(20);
  while (!fs::exists(p.dir() / "started") && steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(fs::exists(p.dir() / "started"));
  auto sent = steady_clock::now();
  bg.signal(SIGINT);
  auto r = bg.wait(std::chrono::seconds(15));
  EXPECT_FALSE(r.timed_out) << r.out << r.err;
  EXPECT_LT(steady_clock::now() - sent, std::chrono::seconds(10));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
}
