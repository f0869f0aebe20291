// End-to-end checks of the plain-text report: status lines, failure details, -v, -q, the
// summary and its errored variant. Spec: seed-cli.txt "Plain text" and REFERENCE §2.7. Output is
// a pipe here, never a TTY, so no colour and no progress prefix may appear.
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "json_support.hpp"

using namespace provium::e2e;

namespace {

// The output minus its last line (the summary, whose time varies), and that last line.
std::pair<std::string, std::string> split_summary(const std::string& out) {
  if (out.empty() || out.back() != '\n') return {out, ""};
  auto at = out.rfind('\n', out.size() - 2);
  if (at == std::string::npos) return {"", out.substr(0, out.size() - 1)};
  return {out.substr(0, at + 1), out.substr(at + 1, out.size() - at - 2)};
}

const std::regex kSummary(R"(^(\d+) file\(s\); (\d+) passed, (\d+) failed, (\d+) skipped)"
                          R"((, (\d+) file\(s\) errored)?; \d+\.\d\ds$)");

void expect_summary(const std::string& line, const std::string& counts) {
  EXPECT_TRUE(std::regex_match(line, kSummary)) << "not a summary line: [" << line << "]";
  EXPECT_EQ(line.rfind(counts + "; ", 0), 0u)
      << "summary [" << line << "], expected counts [" << counts << "]";
}

void expect_plain(const RunOutput& r) {
  EXPECT_FALSE(contains(r.out, "\x1b")) << "escape codes on stdout";
  EXPECT_FALSE(contains(r.err, "\x1b")) << "escape codes on stderr";
  EXPECT_FALSE(contains(r.out, "\r")) << "carriage returns on stdout";
  EXPECT_FALSE(std::regex_search(r.out, std::regex(R"(\[\d+/\d+\])")))
      << "progress prefix: " << r.out;
}

const char* kSmoke =
    "test(\"boots\", function(t) end)\n"
    "test(\"answers\", function(t) t:assert_eq(1 + 1, 2) end)\n"
    "test(\"logs\", function(t) t:log(\"hello\") end)\n";

const char* kPartition =
    "test(\"heals\", function(t) end)\n"
    "test(\"split-brain\", function(t)\n"
    "  t:fail(\"client A could not reach client B\\nafter partition\")\n"
    "end)\n"
    "test(\"reconnects\", function(t) end)\n";

}  // namespace

TEST(ReportText, PassingFileExactly) {
  Project p;
  p.write("tests/smoke.test.lua", kSmoke);
  auto r = suite(p, {"tests"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  expect_plain(r);
  auto [body, summary] = split_summary(r.out);
  EXPECT_EQ(body, "PASS tests/smoke.test.lua (3 passed, 0 failed, 0 skipped)\n\n");
  expect_summary(summary, "1 file(s); 3 passed, 0 failed, 0 skipped");
}

TEST(ReportText, FailingFileShowsFailedTestsIndented) {
  Project p;
  p.write("tests/networking/partition.test.lua", kPartition);
  auto r = suite(p, {"tests"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  expect_plain(r);
  auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 6u) << r.out;
  EXPECT_EQ(lines[0], "FAIL tests/networking/partition.test.lua (2 passed, 1 failed, 0 skipped)");
  EXPECT_EQ(lines[1], "    FAIL split-brain");
  // The first message line may carry the caller's location ("file:line: ") before the text.
  EXPECT_EQ(lines[2].rfind("        ", 0), 0u) << lines[2];
  EXPECT_NE(lines[2][8], ' ') << lines[2];
  EXPECT_TRUE(lines[2].ends_with("client A could not reach client B")) << lines[2];
  EXPECT_EQ(lines[3], "        after partition");
  EXPECT_EQ(lines[4], "");
  expect_summary(lines[5], "1 file(s); 2 passed, 1 failed, 0 skipped");
}

TEST(ReportText, RaisedErrorMessageIsTheErrorText) {
  // "Raised error → Failed (message = error text)": the message lines are exactly the text;
  // for runtime errors (not assertions) the text report adds the traceback trimmed of harness
  // frames (issue #2: "Lua errors report file:line and a traceback").
  Project p;
  p.write("tests/e.test.lua",
          "test(\"raises\", function(t) error(\"first line\\nsecond line\", 0) end)\n");
  auto r = suite(p, {"tests"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  auto [body, summary] = split_summary(r.out);
  EXPECT_EQ(body,
            "FAIL tests/e.test.lua (0 passed, 1 failed, 0 skipped)\n"
            "    FAIL raises\n"
            "        first line\n"
            "        second line\n"
            "        stack traceback:\n"
            "            tests/e.test.lua:1: in function <tests/e.test.lua:1>\n"
            "\n");
  expect_summary(summary, "1 file(s); 0 passed, 1 failed, 0 skipped");
}

TEST(ReportText, SeveralFilesAndSummaryTotals) {
  Project p;
  p.write("tests/smoke.test.lua", kSmoke);
  p.write("tests/networking/partition.test.lua", kPartition);
  p.write("tests/extra.test.lua",
          "test(\"a\", function(t) end)\n"
          "test(\"b\", {skip = true}, function(t) end)\n");
  auto r = suite(p, {"tests"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  expect_plain(r);
  auto [body, summary] = split_summary(r.out);
  expect_summary(summary, "3 file(s); 6 passed, 1 failed, 1 skipped");
  EXPECT_TRUE(contains(body, "PASS tests/smoke.test.lua (3 passed, 0 failed, 0 skipped)\n"))
      << body;
  EXPECT_TRUE(contains(body, "PASS tests/extra.test.lua (1 passed, 0 failed, 1 skipped)\n"))
      << body;
  // Failure details stay directly under their file's status line.
  EXPECT_TRUE(contains(body,
                       "FAIL tests/networking/partition.test.lua (2 passed, 1 failed, 0 skipped)\n"
                       "    FAIL split-brain\n"))
      << body;
  EXPECT_TRUE(body.ends_with("\n\n")) << "no blank line before the summary: " << body;
  EXPECT_EQ(lines_of(body).size(), 7u) << body;  // 3 status + 1 FAIL + 2 message + blank
}

TEST(ReportText, DefaultHidesPassingAndSkippedTests) {
  Project p;
  p.write("tests/a.test.lua",
          "test(\"quiet pass\", function(t) end)\n"
          "test(\"quiet skip\", {skip = \"later\"}, function(t) end)\n");
  auto r = suite(p, {"tests"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(contains(r.out, "quiet pass")) << r.out;
  EXPECT_FALSE(contains(r.out, "quiet skip")) << r.out;
  EXPECT_FALSE(contains(r.out, "later")) << r.out;
}

TEST(ReportText, VerboseAddsPassAndSkipLinesWithReasons) {
  Project p;
  p.write("tests/v.test.lua",
          "test(\"first\", function(t) end)\n"
          "test(\"declared skip\", {skip = \"see issue #42\"}, function(t) end)\n"
          "test(\"runtime skip\", function(t) t:skip(\"needs two DCs\") end)\n"
          "test(\"slow\", {slow = true}, function(t) end)\n");
  for (const char* flag : {"-v", "--verbose"}) {
    auto r = suite(p, {"tests", flag});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    expect_plain(r);
    auto [body, summary] = split_summary(r.out);
    EXPECT_EQ(body,
              "PASS tests/v.test.lua (1 passed, 0 failed, 3 skipped)\n"
              "    PASS first\n"
              "    SKIP declared skip\n"
              "        skipped: see issue #42\n"
              "    SKIP runtime skip\n"
              "        needs two DCs\n"
              "    SKIP slow\n"
              "        filtered: slow tests skipped (pass --include-slow)\n"
              "\n")
        << flag;
    expect_summary(summary, "1 file(s); 1 passed, 0 failed, 3 skipped");
  }
}

TEST(ReportText, VerboseKeepsDeclarationOrderAroundFailures) {
  Project p;
  p.write("tests/o.test.lua",
          "test(\"a\", function(t) end)\n"
          "test(\"b\", function(t) t:fail(\"bad\") end)\n"
          "test(\"c\", function(t) end)\n");
  auto r = suite(p, {"tests", "-v"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 7u) << r.out;
  EXPECT_EQ(lines[0], "FAIL tests/o.test.lua (2 passed, 1 failed, 0 skipped)");
  EXPECT_EQ(lines[1], "    PASS a");
  EXPECT_EQ(lines[2], "    FAIL b");
  EXPECT_TRUE(lines[3].starts_with("        ") && lines[3].ends_with("bad")) << lines[3];
  EXPECT_EQ(lines[4], "    PASS c");
  EXPECT_EQ(lines[5], "");
  expect_summary(lines[6], "1 file(s); 2 passed, 1 failed, 0 skipped");
}

TEST(ReportText, VerbosePassingFileListsItsTests) {
  Project p;
  p.write("tests/smoke.test.lua", kSmoke);
  auto r = suite(p, {"tests", "-v"});
  EXPECT_EQ(r.exit_code, 0);
  auto [body, summary] = split_summary(r.out);
  EXPECT_EQ(body,
            "PASS tests/smoke.test.lua (3 passed, 0 failed, 0 skipped)\n"
            "    PASS boots\n"
            "    PASS answers\n"
            "    PASS logs\n"
            "\n");
}

TEST(ReportText, QuietShowsOnlyFailingFilesAndTheSummary) {
  Project p;
  p.write("tests/smoke.test.lua", kSmoke);
  p.write("tests/networking/partition.test.lua", kPartition);
  for (const char* flag : {"-q", "--quiet"}) {
    auto r = suite(p, {"tests", flag});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    expect_plain(r);
    EXPECT_FALSE(contains(r.out, "smoke")) << r.out;
    EXPECT_FALSE(contains(r.out, "PASS")) << r.out;
    EXPECT_EQ(
        r.out.rfind("FAIL tests/networking/partition.test.lua (2 passed, 1 failed, 0 skipped)\n"
                    "    FAIL split-brain\n",
                    0),
        0u)
        << r.out;
    EXPECT_TRUE(contains(r.out, "        after partition\n")) << r.out;
    auto [body, summary] = split_summary(r.out);
    expect_summary(summary, "2 file(s); 5 passed, 1 failed, 0 skipped");
  }
}

TEST(ReportText, QuietWithEverythingPassingPrintsOnlyTheSummary) {
  Project p;
  p.write("tests/smoke.test.lua", kSmoke);
  auto r = suite(p, {"tests", "-q"});
  EXPECT_EQ(r.exit_code, 0);
  auto [body, summary] = split_summary(r.out);
  EXPECT_FALSE(contains(body, "PASS")) << body;
  EXPECT_TRUE(body.find_first_not_of('\n') == std::string::npos) << body;
  expect_summary(summary, "1 file(s); 3 passed, 0 failed, 0 skipped");
}

TEST(ReportText, ChunkErrorIsIndentedAndCountedAsErrored) {
  Project p;
  p.write("tests/smoke.test.lua", kSmoke);
  p.write("tests/broken.test.lua",
          "test(\"never registered\", function(t) end)\n"
          "error(\"file scope exploded\", 0)\n");
  auto r = suite(p, {"tests"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  expect_plain(r);
  auto lines = lines_of(r.out);
  auto it = std::find_if(lines.begin(), lines.end(),
                         [](const std::string& l) { return l.starts_with("FAIL tests/broken"); });
  ASSERT_NE(it, lines.end()) << r.out;
  EXPECT_TRUE(std::regex_match(
      *it, std::regex(R"(FAIL tests/broken\.test\.lua \(\d+ passed, \d+ failed, \d+ skipped\))")))
      << *it;
  ASSERT_NE(it + 1, lines.end());
  EXPECT_EQ(*(it + 1), "    file scope exploded") << r.out;
  auto [body, summary] = split_summary(r.out);
  ASSERT_TRUE(std::regex_match(summary, kSummary)) << summary;
  EXPECT_TRUE(contains(summary, ", 1 file(s) errored; ")) << summary;
  EXPECT_EQ(summary.rfind("2 file(s); 3 passed, ", 0), 0u) << summary;
}

TEST(ReportText, SummaryHasNoErroredPartWithoutChunkErrors) {
  Project p;
  p.write("tests/networking/partition.test.lua", kPartition);
  auto r = suite(p, {"tests"});
  auto [body, summary] = split_summary(r.out);
  EXPECT_FALSE(contains(summary, "errored")) << summary;
}

TEST(ReportText, TimedOutFileIsATimeLine) {
  Project p;
  p.write("tests/long.test.lua",
          "test(\"quick\", function(t) end)\n"
          "test(\"stuck\", function(t)\n"
          "  wait_until(function() return false end, {timeout = \"10s\", interval = \"10ms\"})\n"
          "end)\n");
  auto r = suite(p, {"tests", "--timeout", "400ms"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  expect_plain(r);
  auto lines = lines_of(r.out);
  ASSERT_FALSE(lines.empty());
  EXPECT_TRUE(std::regex_match(
      lines[0], std::regex(R"(TIME tests/long\.test\.lua \(1 passed, \d+ failed, \d+ skipped\))")))
      << r.out;
}

TEST(ReportText, PathsAreShownAsDiscovered) {
  Project p;
  p.write("suite/deep/nested/x.test.lua", "test(\"a\", function(t) end)\n");
  auto r = suite(p, {"suite/deep"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("PASS suite/deep/nested/x.test.lua (1 passed, 0 failed, 0 skipped)\n", 0),
            0u)
      << r.out;
  r = suite(p, {});
  EXPECT_EQ(r.out.rfind("PASS suite/deep/nested/x.test.lua (1 passed, 0 failed, 0 skipped)\n", 0),
            0u)
      << r.out;
}

TEST(ReportText, NoColourEvenWhenNoColorIsUnset) {
  // NO_COLOR is removed by the harness; a pipe alone must be enough to disable colour.
  Project p;
  p.write("tests/networking/partition.test.lua", kPartition);
  auto r = suite(p, {"tests", "-v"});
  expect_plain(r);
}

TEST(ReportText, EventsStdoutMovesTheTextToStderr) {
  // "--events-stdout: Event frames on stdout; the renderer moves to stderr."
  Project p;
  p.write("tests/smoke.test.lua", kSmoke);
  auto r = suite(p, {"tests", "--events-stdout"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(contains(r.out, "PASS tests/smoke.test.lua")) << "text on stdout";
  EXPECT_FALSE(contains(r.out, "file(s);")) << "summary on stdout";
  EXPECT_TRUE(contains(r.err, "PASS tests/smoke.test.lua (3 passed, 0 failed, 0 skipped)\n"))
      << r.err;
  EXPECT_TRUE(contains(r.err, "1 file(s); 3 passed, 0 failed, 0 skipped; ")) << r.err;
}
