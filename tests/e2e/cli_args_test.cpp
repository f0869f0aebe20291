// End-to-end checks of the command line itself: exit codes, argument errors, --help, --version,
// value parsing (sizes, durations, --cpu-overcommit). Spec: seed-cli.txt and REFERENCE §2.1,
// §2.2, §2.5.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "json_support.hpp"

using namespace provium::e2e;

namespace {

size_t count_lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  if (!s.empty() && s.back() != '\n') ++n;
  return n;
}

// An argument error: exit 2, nothing on stdout, exactly one stderr line naming `flag`.
void expect_usage_error(const RunOutput& r, const std::string& flag) {
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_TRUE(!r.err.empty() && r.err.back() == '\n') << r.err;
  EXPECT_TRUE(contains(r.err, flag)) << "stderr does not name " << flag << ": " << r.err;
  EXPECT_EQ(r.out.find("PASS"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("file(s);"), std::string::npos) << "suite ran anyway: " << r.out;
}

// Runs `provium tests <args...>` on a passing suite and expects an argument error naming `flag`.
void expect_rejected(std::vector<std::string> args, const std::string& flag) {
  Project p;
  write_passing(p);
  args.insert(args.begin(), "tests");
  expect_usage_error(p.run(args), flag);
}

void write_failing(const Project& p, const std::string& rel) {
  p.write(rel, "test(\"broken\", function(t) t:fail(\"nope\") end)\n");
}

}  // namespace

// ---- exit codes ---------------------------------------------------------------------------

TEST(CliExit, AllPassingIsZero) {
  Project p;
  write_passing(p);
  auto r = suite(p, {"tests"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST(CliExit, AFailedTestIsOne) {
  Project p;
  write_passing(p);
  write_failing(p, "tests/bad.test.lua");
  auto r = suite(p, {"tests"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
}

TEST(CliExit, ChunkErrorIsOne) {
  Project p;
  p.write("tests/chunk.test.lua", "error(\"file scope blew up\", 0)\n");
  auto r = suite(p, {"tests"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
}

TEST(CliExit, ClampedToOneForManyFailures) {
  // "Clamped to 0/1/2; never a failure count" — three failing files still exit 1, not 3 (or 2,
  // which would read as an internal error).
  Project p;
  for (int i = 0; i < 3; ++i) write_failing(p, "tests/f" + std::to_string(i) + ".test.lua");
  auto r = suite(p, {"tests"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  p.write("tests/f3.test.lua", "test(\"x\", function(t) t:fail() end)\n");
  r = suite(p, {"tests"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
}

TEST(CliExit, SkippedOnlyIsZero) {
  Project p;
  p.write("tests/s.test.lua",
          "test(\"later\", {skip = true}, function(t) error(\"never\") end)\n"
          "test(\"slow one\", {slow = true}, function(t) error(\"never\") end)\n");
  auto r = suite(p, {"tests"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

// ---- empty discovery and missing paths ----------------------------------------------------

TEST(CliDiscovery, EmptyDiscoveryIsANoticeAndZero) {
  Project p;
  p.write("notes/readme.txt", "nothing to see\n");
  auto r = suite(p, {});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_EQ(r.out, "") << "the notice belongs on stderr only";
}

TEST(CliDiscovery, EmptyDiscoveryWithJsonPrintsNoFilesObject) {
  Project p;
  p.write("tests/helper.lua", "return {}\n");
  auto r = suite(p, {"tests", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_EQ(count_lines(r.out), 1u) << r.out;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_EQ(j.size(), 2u) << r.out;
  EXPECT_EQ(j.value("type", ""), "no_files") << r.out;
  ASSERT_TRUE(j.contains("message") && j["message"].is_string()) << r.out;
  EXPECT_FALSE(j["message"].get<std::string>().empty());
}

TEST(CliDiscovery, MissingPathIsReportedAndTheRestRuns) {
  Project p;
  write_passing(p);
  auto r = suite(p, {"tests/ok.test.lua", "does-not-exist"});
  EXPECT_TRUE(contains(r.err, "does-not-exist")) << r.err;
  EXPECT_TRUE(contains(r.out, "PASS tests/ok.test.lua (1 passed, 0 failed, 0 skipped)")) << r.out;
  // A bad path argument is a usage error (exit 2) even though the other paths ran and passed.
  EXPECT_EQ(r.exit_code, 2) << r.err;
}

TEST(CliDiscovery, FixturesAndHelpersNeverRunAsTests) {
  Project p;
  write_passing(p);
  p.write("tests/base.fixture.lua", "error(\"a fixture must not run as a test\")\n");
  p.write("tests/lib/util.lua", "error(\"a helper must not run as a test\")\n");
  p.write("tests/notes.lua", "test(\"helper test\", function(t) t:fail(\"ran\") end)\n");
  auto r = suite(p, {"tests", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(count_lines(r.out), 1u) << r.out;
  EXPECT_TRUE(contains(r.out, "\"path\":\"tests/ok.test.lua\"")) << r.out;
  EXPECT_FALSE(contains(r.out, "fixture")) << r.out;
  EXPECT_FALSE(contains(r.out, "util")) << r.out;
}

TEST(CliDiscovery, ListPrintsDiscoveredFilesOnePerLine) {
  Project p;
  write_passing(p, "tests/b.test.lua");
  write_passing(p, "tests/a/x.test.lua");
  write_passing(p, "tests/a.test.lua");
  write_passing(p, "tests/B.test.lua");
  p.write("tests/base.fixture.lua", "return nil\n");
  auto r = p.run({"list", "tests"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // Sorted by path in byte order ('B' < 'a', '.' < '/').
  EXPECT_EQ(r.out, "tests/B.test.lua\ntests/a.test.lua\ntests/a/x.test.lua\ntests/b.test.lua\n");
}

// ---- argument errors ----------------------------------------------------------------------

TEST(CliArgs, UnknownFlag) {
  expect_rejected({"--definitely-not-a-flag"}, "--definitely-not-a-flag");
}

TEST(CliArgs, VerboseAndQuietConflict) {
  Project p;
  write_passing(p);
  auto r = p.run({"tests", "-v", "-q"});
  expect_usage_error(r, "-");
  EXPECT_TRUE(contains(r.err, "verbose") || contains(r.err, "-v")) << r.err;
  EXPECT_TRUE(contains(r.err, "quiet") || contains(r.err, "-q")) << r.err;
  r = p.run({"tests", "--quiet", "--verbose"});
  expect_usage_error(r, "-");
  EXPECT_TRUE(contains(r.err, "verbose")) << r.err;
  EXPECT_TRUE(contains(r.err, "quiet")) << r.err;
}

TEST(CliArgs, JsonAndEventsStdoutConflict) {
  Project p;
  write_passing(p);
  auto r = p.run({"tests", "--json", "--events-stdout"});
  expect_usage_error(r, "--json");
  EXPECT_TRUE(contains(r.err, "--events-stdout")) << r.err;
}

TEST(CliArgs, MemZeroIsRejected) { expect_rejected({"--mem", "0"}, "--mem"); }

TEST(CliArgs, MemBadSuffixIsRejected) { expect_rejected({"--mem", "12X"}, "--mem"); }

TEST(CliArgs, MemGoodSizesAreAccepted) {
  Project p;
  write_passing(p);
  // <integer>[K|M|G|T], case-insensitive, optional trailing B/iB (REFERENCE §4.8).
  for (const char* size : {"4G", "512M", "102400k", "2g", "1073741824", "4GiB", "512MB", "1t"}) {
    auto r = suite(p, {"tests", "--mem", size});
    EXPECT_EQ(r.exit_code, 0) << size << ": " << r.err;
  }
}

TEST(CliArgs, NegativeCpusIsRejected) { expect_rejected({"--cpus", "-1"}, "--cpus"); }

TEST(CliArgs, TimeoutBadUnitIsRejected) { expect_rejected({"--timeout", "5x"}, "--timeout"); }

TEST(CliArgs, NegativeTimeoutIsRejected) { expect_rejected({"--timeout", "-1"}, "--timeout"); }

TEST(CliArgs, TagMetaWithEmptyKeyIsRejected) {
  expect_rejected({"--tag-meta", "=net"}, "--tag-meta");
}

TEST(CliArgs, NoTagMetaWithEmptyKeyIsRejected) {
  expect_rejected({"--no-tag-meta", "=net"}, "--no-tag-meta");
}

TEST(CliArgs, BadVmmChoiceIsRejected) { expect_rejected({"--vmm", "firecracker"}, "--vmm"); }

TEST(CliArgs, BadAccelAndTransportChoicesAreRejected) {
  expect_rejected({"--accel", "hvf"}, "--accel");
  expect_rejected({"--transport", "tcp"}, "--transport");
}

TEST(CliArgs, NonNumericCpuOvercommitIsRejected) {
  expect_rejected({"--cpu-overcommit", "lots"}, "--cpu-overcommit");
}

TEST(CliArgs, NonNumericCpusIsRejected) { expect_rejected({"--cpus", "four"}, "--cpus"); }

TEST(CliArgs, TagMetaWithEmptyValueIsAccepted) {
  // Only an empty KEY is an error; `k=` matches a meta value equal to "".
  Project p;
  p.write("tests/e.test.lua", "test(\"empty\", {k = \"\"}, function(t) end)\n");
  auto r = suite(p, {"tests", "--tag-meta", "k=", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "\"status\":\"passed\"")) << r.out;
}

TEST(CliArgs, CpuOvercommitIsClampedWithANotice) {
  Project p;
  write_passing(p);
  auto r = suite(p, {"tests", "--cpu-overcommit", "20"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_TRUE(contains(r.err, "--cpu-overcommit")) << r.err;
  EXPECT_TRUE(contains(r.err, "8")) << r.err;
  EXPECT_TRUE(contains(r.out, "PASS tests/ok.test.lua")) << r.out;

  r = suite(p, {"tests", "--cpu-overcommit", "0.1"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_TRUE(contains(r.err, "--cpu-overcommit")) << r.err;
  EXPECT_TRUE(contains(r.err, "0.5")) << r.err;
}

TEST(CliArgs, CpuOvercommitInRangeIsSilent) {
  Project p;
  write_passing(p);
  auto r = suite(p, {"tests", "--cpu-overcommit", "2.5"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.err, "");
}

TEST(CliArgs, TimeoutAcceptsDurationsAndIntegers) {
  Project p;
  write_passing(p);
  for (const char* d : {"500ms", "30s", "10m", "2h", "45", "1.5s", "0s"}) {
    auto r = suite(p, {"tests", "--timeout", d});
    EXPECT_EQ(r.exit_code, 0) << "--timeout " << d << ": " << r.err;
    EXPECT_TRUE(contains(r.out, "PASS tests/ok.test.lua")) << d << ": " << r.out;
  }
}

TEST(CliArgs, TimeoutZeroDisablesTheLimit) {
  Project p;
  p.write("tests/wait.test.lua",
          "test(\"waits a little\", function(t)\n"
          "  local n = 0\n"
          "  wait_until(function() n = n + 1; return n > 3 end, {interval = \"20ms\"})\n"
          "end)\n");
  auto r = suite(p, {"tests", "--timeout", "0", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "\"timeout\":\"in_time\"")) << r.out;
  EXPECT_TRUE(contains(r.out, "\"passed\":true")) << r.out;
}

TEST(CliArgs, ShortTimeoutTimesTheFileOut) {
  Project p;
  p.write("tests/long.test.lua",
          "test(\"never ready\", function(t)\n"
          "  wait_until(function() return false end, {timeout = \"5s\", interval = \"10ms\"})\n"
          "end)\n");
  auto r = suite(p, {"tests", "--timeout", "300ms"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.out.rfind("TIME tests/long.test.lua (", 0), 0u) << r.out;
}

// ---- help and version ---------------------------------------------------------------------

TEST(CliHelp, TopLevelHelp) {
  Project p;
  auto r = p.run({"--help"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const char* flag :
       {"--config",        "--filter",         "--include-slow", "--tag",
        "--no-tag",        "--tag-meta",       "--no-tag-meta",  "--rerun-failed",
        "--since",         "--watch",          "--vmm",          "--mem",
        "--cpus",          "--cpu-overcommit", "--no-preflight", "--no-ksm",
        "--no-build",      "--timeout",        "--fail-fast",    "--verbose",
        "--quiet",         "--json",           "--junit",        "--save-events",
        "--events-stdout", "--events-socket",  "--coverage",     "--version"}) {
    EXPECT_TRUE(contains(r.out, flag)) << "top-level --help does not mention " << flag;
  }
  for (const char* sub : {"prepare", "repl", "console", "fixture", "list", "lsp-setup"})
    EXPECT_TRUE(contains(r.out, sub)) << "top-level --help does not mention " << sub;
}

TEST(CliHelp, ShortHelpFlag) {
  Project p;
  auto r = p.run({"-h"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "--filter")) << r.out;
}

TEST(CliHelp, HelpDoesNotRunTheSuite) {
  Project p;
  write_failing(p, "bad.test.lua");
  auto r = p.run({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(contains(r.out, "FAIL")) << r.out;
}

struct SubHelp {
  std::vector<std::string> args;
  std::vector<std::string> mentions;
};

TEST(CliHelp, EverySubcommandHasHelp) {
  Project p;
  std::vector<SubHelp> cases = {
      {{"prepare", "--help"}, {"prepare", "rofile"}},
      {{"repl", "--help"}, {"repl", "--name", "--fixture"}},
      {{"console", "--help"},
       {"console", "--mem", "--cpus", "--cmdline", "--agent", "--qemu", "--print-command"}},
      {{"fixture", "--help"}, {"list", "build", "rebuild", "clean", "stale"}},
      {{"list", "--help"}, {"--fixtures", "--tests", "--json"}},
      {{"lsp-setup", "--help"}, {"--force"}},
  };
  for (auto& c : cases) {
    auto r = p.run(c.args);
    EXPECT_EQ(r.exit_code, 0) << c.args[0] << " --help: " << r.err;
    for (auto& m : c.mentions)
      EXPECT_TRUE(contains(r.out, m)) << c.args[0] << " --help does not mention " << m << ":\n"
                                      << r.out;
  }
}

TEST(CliHelp, SubcommandHelpIsAboutTheSubcommand) {
  // `provium repl --help` documents repl, not the suite flags.
  Project p;
  auto r = p.run({"repl", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(contains(r.out, "--include-slow")) << r.out;
}

TEST(CliHelp, Version) {
  Project p;
  auto r = p.run({"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("provium ", 0), 0u) << r.out;
  EXPECT_EQ(count_lines(r.out), 1u) << r.out;
  bool has_digit = false;
  for (char c : r.out) has_digit |= c >= '0' && c <= '9';
  EXPECT_TRUE(has_digit) << r.out;
}

TEST(CliHelp, UnknownSubcommandArgumentIsAnError) {
  Project p;
  expect_usage_error(p.run({"lsp-setup", "--no-such-flag"}), "--no-such-flag");
}
