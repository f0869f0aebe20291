// End-to-end checks of profile `build` hooks, `build_out`/`{out}`, `--no-build`, profile
// directories and `provium prepare`. Spec: REFERENCE §2.3 (prepare), §2.9, §3.5, §3.6.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "json_support.hpp"

using namespace provium::e2e;

namespace {

std::string canon(const fs::path& p) { return fs::weakly_canonical(p).string(); }

// TOML basic strings need backslashes and quotes escaped; temp paths have neither, but the shell
// commands below contain double quotes.
std::string toml_str(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string profile(const std::string& name, const std::string& build,
                    const std::string& extra = "") {
  return "[profiles." + name +
         "]\nkernel = \"vmlinuz\"\ncmdline = \"quiet\"\nbuild = " + toml_str(build) + "\n" + extra +
         "\n";
}

}  // namespace

// ---- suite-mode builds ------------------------------------------------------------------------

TEST(ConfigBuild, RunsEveryBuildInNameOrderBeforeTheTests) {
  Project p;
  write_passing(p);
  std::string log = (p.dir() / "order.log").string();
  p.write("provium.toml",
          profile("zeta", "echo zeta >> '" + log + "'", "build_out = \"out/zeta\"") +
              profile("alpha", "echo alpha >> '" + log + "'", "build_out = \"out/alpha\"") +
              "[profiles.nobuild]\nkernel = \"vmlinuz\"\ncmdline = \"quiet\"\n");
  auto r = suite(p, {"tests"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(p.read("order.log"), "alpha\nzeta\n");
  std::string alpha_line =
      "provium: building profile `alpha` → " + canon(p.dir() / "out/alpha") + "\n";
  std::string zeta_line =
      "provium: building profile `zeta` → " + canon(p.dir() / "out/zeta") + "\n";
  EXPECT_TRUE(contains(r.err, alpha_line)) << r.err;
  EXPECT_TRUE(contains(r.err, zeta_line)) << r.err;
  EXPECT_LT(r.err.find(alpha_line), r.err.find(zeta_line)) << r.err;
  EXPECT_FALSE(contains(r.err, "nobuild")) << r.err;
  EXPECT_TRUE(contains(r.out, "PASS tests/ok.test.lua")) << r.out;
}

TEST(ConfigBuild, OutIsTheAbsoluteBuildOutAndExistsBeforeTheBuild) {
  Project p;
  write_passing(p);
  p.write("provium.toml", profile("img", "test -d {out} && printf '%s' {out} > where.txt",
                                  "build_out = \"artefacts/img\""));
  auto r = suite(p, {"tests"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(p.read("where.txt"), canon(p.dir() / "artefacts/img"));
}

TEST(ConfigBuild, DefaultBuildOutUsesXdgCacheHome) {
  Project p;
  write_passing(p);
  p.write("provium.toml", profile("img", "printf '%s' {out} > where.txt"));
  auto r = suite(p, {"tests"}, {{"PROVIUM_BUILD_DIR", std::nullopt}});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string expected = canon(p.dir() / ".cache/provium/builds/img");
  EXPECT_EQ(p.read("where.txt"), expected);
  EXPECT_TRUE(contains(r.err, "provium: building profile `img` → " + expected + "\n")) << r.err;
  EXPECT_TRUE(fs::is_directory(expected));
}

TEST(ConfigBuild, ProviumBuildDirWinsOverXdg) {
  Project p;
  write_passing(p);
  p.write("provium.toml", profile("img", "printf '%s' {out} > where.txt"));
  auto r = suite(p, {"tests"}, {{"PROVIUM_BUILD_DIR", (p.dir() / "bd").string()}});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(p.read("where.txt"), canon(p.dir() / "bd/img"));
}

TEST(ConfigBuild, DefaultBuildOutFallsBackToHomeCache) {
  Project p;
  write_passing(p);
  p.write("provium.toml", profile("img", "printf '%s' {out} > where.txt"));
  auto r =
      suite(p, {"tests"}, {{"PROVIUM_BUILD_DIR", std::nullopt}, {"XDG_CACHE_HOME", std::nullopt}});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(p.read("where.txt"), canon(p.dir() / ".cache/provium/builds/img"));
}

TEST(ConfigBuild, FailingBuildExitsTwoAndStops) {
  Project p;
  write_passing(p);
  std::string log = (p.dir() / "order.log").string();
  p.write("provium.toml",
          profile("alpha", "exit 3") + profile("beta", "echo beta >> '" + log + "'"));
  auto r = suite(p, {"tests"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "provium: profile `alpha`: build command failed (exit status: 3)\n"))
      << r.err;
  EXPECT_FALSE(fs::exists(p.dir() / "order.log")) << "a later profile was still built";
  EXPECT_FALSE(contains(r.out, "PASS")) << "tests ran after a failed build: " << r.out;
}

TEST(ConfigBuild, NoBuildSkipsTheHooks) {
  Project p;
  write_passing(p);
  p.write("provium.toml", profile("alpha", "touch built.marker"));
  auto r = suite(p, {"tests", "--no-build"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_FALSE(fs::exists(p.dir() / "built.marker"));
  EXPECT_FALSE(contains(r.err, "building")) << r.err;
  EXPECT_TRUE(contains(r.out, "PASS tests/ok.test.lua")) << r.out;
  // A failing hook is not even attempted.
  p.write("provium.toml", profile("alpha", "exit 1"));
  EXPECT_EQ(suite(p, {"tests", "--no-build"}).exit_code, 0);
}

TEST(ConfigBuild, BuildInheritsEnvironmentAndStdout) {
  Project p;
  write_passing(p);
  p.write("provium.toml", profile("alpha", "echo \"from-build:$MY_SETTING\""));
  auto r = suite(p, {"tests"}, {{"MY_SETTING", "forty-two"}});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out + r.err, "from-build:forty-two")) << r.out << r.err;
}

TEST(ConfigBuild, TestFilterVariableDoesNotLeakIntoBuilds) {
  Project p;
  write_passing(p);
  p.write("provium.toml",
          profile("alpha", "printf '%s' \"${PROVIUM_TEST_FILTER-unset}\" > filter.txt"));
  auto r = suite(p, {"tests", "--tag", "net", "--include-slow"},
                 {{"PROVIUM_TEST_FILTER", "{\"tag\":[\"stale\"]}"}});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(p.read("filter.txt"), "unset");
}

TEST(ConfigBuild, InlineBuildRunsInTheWorkingDirectory) {
  Project p;
  write_passing(p, "work/tests/ok.test.lua");
  p.write("provium.toml", profile("alpha", "pwd > pwd.txt", "build_out = \"out\""));
  auto r = suite(p, {"tests", "--config", "../provium.toml", "--json"}, {}, p.dir() / "work");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_TRUE(fs::exists(p.dir() / "work/pwd.txt")) << "build did not run in the cwd";
  EXPECT_EQ(p.read("work/pwd.txt"), canon(p.dir() / "work") + "\n");
  // Relative build_out of an inline profile resolves against the cwd too.
  EXPECT_TRUE(fs::is_directory(p.dir() / "work/out"));
}

TEST(ConfigBuild, BuildsRunBeforeDiscovery) {
  // Startup order: profile builds, then discovery — a generated test file is found.
  Project p;
  write_passing(p);
  p.write("provium.toml",
          profile("gen", "printf 'test(\"generated\", function(t) end)\\n' > tests/gen.test.lua"));
  auto r = suite(p, {"tests"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "PASS tests/gen.test.lua (1 passed, 0 failed, 0 skipped)")) << r.out;
}

TEST(ConfigBuild, ListDoesNotBuild) {
  Project p;
  write_passing(p);
  p.write("provium.toml", profile("alpha", "touch built.marker"));
  auto r = p.run({"list", "tests"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(p.dir() / "built.marker"));
}

// ---- from_dir profiles --------------------------------------------------------------------------

TEST(ConfigFromDir, BuildRunsInTheProfileDirectoryWithRelativePathsResolvedThere) {
  Project p;
  write_passing(p);
  p.write("profiles/tiny/profile.provium.toml",
          "kernel = \"vmlinuz\"\n"
          "cmdline = \"quiet\"\n"
          "build_out = \"out\"\n"
          "build = \"pwd > built-here.txt && printf '%s' {out} > where.txt\"\n");
  p.write("provium.toml", "[profiles]\nfrom_dir = \"profiles\"\n");
  auto r = suite(p, {"tests"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  fs::path dir = p.dir() / "profiles/tiny";
  ASSERT_TRUE(fs::exists(dir / "built-here.txt")) << "build did not run in the profile directory";
  EXPECT_EQ(p.read("profiles/tiny/built-here.txt"), canon(dir) + "\n");
  EXPECT_EQ(p.read("profiles/tiny/where.txt"), canon(dir / "out"));
  EXPECT_TRUE(contains(r.err, "provium: building profile `tiny` → " + canon(dir / "out") + "\n"))
      << r.err;
}

TEST(ConfigFromDir, InlineAndDirectoryProfilesCoexistAndBuildInNameOrder) {
  Project p;
  write_passing(p);
  std::string log = (p.dir() / "order.log").string();
  p.write("profiles/middle/profile.provium.toml",
          "kernel = \"vmlinuz\"\ncmdline = \"quiet\"\nbuild = \"echo middle >> '" + log + "'\"\n");
  p.write("provium.toml", "[profiles]\nfrom_dir = \"profiles\"\n\n" +
                              profile("zz", "echo zz >> '" + log + "'") +
                              profile("aa", "echo aa >> '" + log + "'"));
  auto r = suite(p, {"tests"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(p.read("order.log"), "aa\nmiddle\nzz\n");
}

// ---- provium prepare ----------------------------------------------------------------------------

TEST(ConfigPrepare, BuildsEveryProfileWithoutRunningTests) {
  Project p;
  p.write("tests/bad.test.lua", "test(\"x\", function(t) t:fail(\"ran\") end)\n");
  std::string log = (p.dir() / "order.log").string();
  p.write("provium.toml", profile("zeta", "echo zeta >> '" + log + "'") +
                              profile("alpha", "echo alpha >> '" + log + "'"));
  auto r = p.run({"prepare"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(p.read("order.log"), "alpha\nzeta\n");
  EXPECT_FALSE(contains(r.out, "FAIL")) << r.out;
  EXPECT_FALSE(contains(r.out, "file(s);")) << r.out;
  EXPECT_TRUE(contains(r.err, "provium: building profile `alpha` → ")) << r.err;
}

TEST(ConfigPrepare, NamedProfileOnly) {
  Project p;
  std::string log = (p.dir() / "order.log").string();
  p.write("provium.toml", profile("zeta", "echo zeta >> '" + log + "'") +
                              profile("alpha", "echo alpha >> '" + log + "'"));
  auto r = p.run({"prepare", "zeta"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(p.read("order.log"), "zeta\n");
}

TEST(ConfigPrepare, UnknownProfile) {
  Project p;
  p.write("provium.toml", profile("alpha", "true"));
  auto r = p.run({"prepare", "nope"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_EQ(r.err, "provium prepare: profile `nope` not found in provium.toml\n");
}

TEST(ConfigPrepare, WithoutAConfigFile) {
  Project p;
  auto r = p.run({"prepare"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = p.run({"prepare", "vm"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "provium prepare: profile `vm` not found in provium.toml\n");
}

TEST(ConfigPrepare, ProfileWithoutBuildIsASilentNoOp) {
  Project p;
  p.write("provium.toml", "[profiles.plain]\nkernel = \"vmlinuz\"\ncmdline = \"quiet\"\n");
  auto r = p.run({"prepare", "plain"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  r = p.run({"prepare"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
}

TEST(ConfigPrepare, FailingBuildStopsAtTheFirstFailure) {
  Project p;
  std::string log = (p.dir() / "order.log").string();
  p.write("provium.toml", profile("beta", "exit 7") +
                              profile("alpha", "echo alpha >> '" + log + "'") +
                              profile("gamma", "echo gamma >> '" + log + "'"));
  auto r = p.run({"prepare"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "provium: profile `beta`: build command failed (exit status: 7)\n"))
      << r.err;
  EXPECT_EQ(p.read("order.log"), "alpha\n");
}

TEST(ConfigPrepare, NamedFailingBuild) {
  Project p;
  p.write("provium.toml", profile("alpha", "exit 4"));
  auto r = p.run({"prepare", "alpha"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "provium: profile `alpha`: build command failed (exit status: 4)\n"))
      << r.err;
}

TEST(ConfigPrepare, ConfigErrorsExitTwo) {
  Project p;
  p.write("provium.toml", "[profiles.vm]\nkernel = \"k\"\ncmdline = \"q\"\nguest_os = \"x\"\n");
  auto r = p.run({"prepare"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "invalid config in `")) << r.err;
}

TEST(ConfigPrepare, RunsFromDirProfilesInTheirDirectory) {
  Project p;
  p.write("profiles/tiny/profile.provium.toml",
          "kernel = \"vmlinuz\"\ncmdline = \"quiet\"\nbuild = \"pwd > built-here.txt\"\n");
  p.write("provium.toml", "[profiles]\nfrom_dir = \"profiles\"\n");
  auto r = p.run({"prepare", "tiny"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(p.read("profiles/tiny/built-here.txt"), canon(p.dir() / "profiles/tiny") + "\n");
}

TEST(ConfigPrepare, TestFilterVariableDoesNotLeak) {
  Project p;
  p.write("provium.toml",
          profile("alpha", "printf '%s' \"${PROVIUM_TEST_FILTER-unset}\" > filter.txt"));
  auto r = p.run({"prepare"}, {{"PROVIUM_TEST_FILTER", "{\"include_slow\":true}"}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(p.read("filter.txt"), "unset");
}
