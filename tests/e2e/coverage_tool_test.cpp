// End-to-end checks of the `provium-coverage` binary on recorded and hand-made event streams
// (REFERENCE §11.5, §11.7): output shape, --by, --json, --expect, input errors, stdin,
// --from-socket and unknown event kinds.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "events_test_util.hpp"

using namespace provium::e2e;
using namespace provium::e2e::obs;

namespace {

using std::chrono::seconds;

ojson test_event(const std::string& kind, const std::string& name, const ojson& meta,
                 const std::string& path = "a.test.lua") {
  ojson pl = {{"path", path}, {"name", name}, {"meta", meta}};
  if (kind == "test_passed" || kind == "test_failed") pl["duration_ns"] = 1000;
  if (kind == "test_failed") {
    pl["reason"] = "boom";
    pl["console_excerpt"] = "";
  }
  if (kind == "test_skipped") pl["reason"] = "skipped";
  return {{"kind", kind}, {"payload", pl}};
}

// The stream of the example in REFERENCE §11.7.
ojson spec_example_events() {
  const std::string s35 = "RFC 9293 \u00a73.5";
  return ojson::array({
      ojson{{"kind", "file_discovered"},
            {"payload",
             {{"path", "a.test.lua"},
              {"fixture_refs", ojson::array()},
              {"declared_claim", nullptr}}}},
      test_event("test_started", "t1", {{"spec", s35}}),
      test_event("test_passed", "t1", {{"spec", s35}}),
      test_event("test_started", "t2", {{"spec", s35}}),
      test_event("test_passed", "t2", {{"spec", s35}}),
      test_event("test_started", "t3", {{"spec", s35}}),
      test_event("test_failed", "t3", {{"spec", s35}}),
      test_event("test_started", "t4", ojson::object()),
      test_event("test_passed", "t4", ojson::object()),
      ojson{{"kind", "file_completed"},
            {"payload", {{"path", "a.test.lua"}, {"status", "failed"}, {"duration_ns", 5}}}},
  });
}

const char* kSpecExampleBody =
    "coverage by `spec`:\n"
    "  RFC 9293 \u00a73.5: 3 tests (2 passed, 1 failed, 0 skipped)\n"
    "  <unset>: 1 tests (1 passed, 0 failed, 0 skipped)\n"
    "  ---\n"
    "  buckets: 2; 3 passed, 1 failed, 0 skipped\n"
    "  tests: 4 distinct; 3 passed, 1 failed, 0 skipped\n";

TEST(CoverageTool, PlainOutputMatchesTheReferenceExampleExactly) {
  Project p;
  encode_frames(p, "ev.msgpack", spec_example_events());
  p.write("expect.txt", "RFC 9293 \u00a73.5\nRFC 9293 \u00a73.9\n");
  auto r = run_coverage(p, {"--from", "ev.msgpack", "--expect", "expect.txt"});
  EXPECT_EQ(r.out, std::string(kSpecExampleBody) + "  uncovered: 1\n    RFC 9293 \u00a73.9\n");
  EXPECT_EQ(r.exit_code, 3) << r.err;
}

TEST(CoverageTool, WithoutExpectThereIsNoUncoveredBlockAndExit0) {
  Project p;
  encode_frames(p, "ev.msgpack", spec_example_events());
  auto r = run_coverage(p, {"--from", "ev.msgpack"});
  EXPECT_EQ(r.out, kSpecExampleBody);
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(CoverageTool, RecordedRunOfTheRealBinary) {
  Project p;
  p.write("a.test.lua", R"lua(test("one", {spec = "A"}, function(t) end)
test("two", {spec = {"A", "B"}}, function(t) t:fail("no") end)
test("three", {spec = "B"}, function(t) t:skip("later") end)
test("four", {skip = true}, function(t) end)
)lua");
  auto run = p.run(suite_args({"--save-events", "ev.msgpack"}), {}, seconds(30));
  ASSERT_EQ(run.exit_code, 1) << run.out << run.err;
  auto r = run_coverage(p, {"--from", "ev.msgpack"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "coverage by `spec`:\n"
            "  A: 2 tests (1 passed, 1 failed, 0 skipped)\n"
            "  B: 2 tests (0 passed, 1 failed, 1 skipped)\n"
            "  <unset>: 1 tests (0 passed, 0 failed, 1 skipped)\n"
            "  ---\n"
            "  buckets: 3; 1 passed, 2 failed, 2 skipped\n"
            "  tests: 4 distinct; 1 passed, 1 failed, 2 skipped\n");
}

// --by area over: A {net, disk} passed; B net failed; C 5 skipped; D none passed;
// E {disk, 7} skipped (lone).
ojson by_area_events() {
  return ojson::array({
      test_event("test_started", "A", {{"area", ojson::array({"net", "disk"})}}),
      test_event("test_passed", "A", {{"area", ojson::array({"net", "disk"})}, {"spec", "S"}}),
      test_event("test_started", "B", {{"area", "net"}}),
      test_event("test_failed", "B", {{"area", "net"}}),
      test_event("test_skipped", "C", {{"area", 5}}),
      test_event("test_started", "D", ojson::object()),
      test_event("test_passed", "D", ojson::object()),
      test_event("test_skipped", "E", {{"area", ojson::array({"disk", 7})}}),
  });
}

// Bucket lines (between the header and `  ---`), sorted, then the rest verbatim.
std::pair<std::vector<std::string>, std::vector<std::string>> split_output(const std::string& out) {
  auto lines = lines_of(out);
  std::vector<std::string> buckets, rest;
  bool in_buckets = true;
  for (size_t i = 1; i < lines.size(); ++i) {
    if (lines[i] == "  ---") in_buckets = false;
    (in_buckets ? buckets : rest).push_back(lines[i]);
  }
  std::sort(buckets.begin(), buckets.end());
  return {buckets, rest};
}

TEST(CoverageTool, ByKeyWithArrayValuesCountsAMultiBucketTestOncePerBucket) {
  Project p;
  encode_frames(p, "ev.msgpack", by_area_events());
  auto r = run_coverage(p, {"--from", "ev.msgpack", "--by", "area"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  ASSERT_FALSE(lines_of(r.out).empty());
  EXPECT_EQ(lines_of(r.out)[0], "coverage by `area`:");
  auto [buckets, rest] = split_output(r.out);
  EXPECT_EQ(buckets, (std::vector<std::string>{
                         "  <unset>: 2 tests (1 passed, 0 failed, 1 skipped)",
                         "  disk: 2 tests (1 passed, 0 failed, 1 skipped)",
                         "  net: 2 tests (1 passed, 1 failed, 0 skipped)",
                     }))
      << r.out;
  EXPECT_EQ(rest, (std::vector<std::string>{
                      "  ---",
                      "  buckets: 3; 3 passed, 1 failed, 2 skipped",
                      "  tests: 5 distinct; 2 passed, 1 failed, 2 skipped",
                  }))
      << r.out;
}

TEST(CoverageTool, ByDefaultKeyIsSpec) {
  Project p;
  encode_frames(p, "ev.msgpack", by_area_events());
  auto r = run_coverage(p, {"--from", "ev.msgpack"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto [buckets, rest] = split_output(r.out);
  EXPECT_EQ(buckets, (std::vector<std::string>{
                         "  <unset>: 4 tests (1 passed, 1 failed, 2 skipped)",
                         "  S: 1 tests (1 passed, 0 failed, 0 skipped)",
                     }))
      << r.out;
}

TEST(CoverageTool, JsonKeys) {
  Project p;
  encode_frames(p, "ev.msgpack", by_area_events());
  auto r = run_coverage(p, {"--from", "ev.msgpack", "--by", "area", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  ojson j = ojson::parse(r.out);
  ASSERT_TRUE(j.is_object());
  EXPECT_FALSE(j.contains("uncovered")) << "uncovered only with --expect: " << r.out;
  ASSERT_TRUE(j["buckets"].is_object()) << r.out;
  EXPECT_EQ(j["buckets"].size(), 2u) << r.out;
  EXPECT_EQ(j["buckets"]["net"], (ojson{{"passed", 1}, {"failed", 1}, {"skipped", 0}})) << r.out;
  EXPECT_EQ(j["buckets"]["disk"], (ojson{{"passed", 1}, {"failed", 0}, {"skipped", 1}})) << r.out;
  EXPECT_EQ(j["uncategorised"], (ojson{{"passed", 1}, {"failed", 0}, {"skipped", 1}})) << r.out;

  p.write("expect.txt", "net\nnowhere\n");
  auto r2 =
      run_coverage(p, {"--from", "ev.msgpack", "--by", "area", "--json", "--expect", "expect.txt"});
  EXPECT_EQ(r2.exit_code, 3) << r2.err;
  ojson j2 = ojson::parse(r2.out);
  EXPECT_EQ(j2["uncovered"], ojson::array({"nowhere"})) << r2.out;
}

TEST(CoverageTool, ExpectFileSkipsBlanksAndCommentsAndWarnsOnDuplicates) {
  Project p;
  encode_frames(p, "ev.msgpack", by_area_events());
  p.write("expect.txt", "# areas we promise to cover\n\nnet\n\n# storage\ndisk\nnet\nmissing\n");
  auto r = run_coverage(p, {"--from", "ev.msgpack", "--by", "area", "--expect", "expect.txt"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  auto [buckets, rest] = split_output(r.out);
  EXPECT_EQ(rest, (std::vector<std::string>{
                      "  ---",
                      "  buckets: 3; 3 passed, 1 failed, 2 skipped",
                      "  tests: 5 distinct; 2 passed, 1 failed, 2 skipped",
                      "  uncovered: 1",
                      "    missing",
                  }))
      << r.out;
  EXPECT_TRUE(contains(r.err, "warning")) << r.err;
  EXPECT_TRUE(contains(r.err, "net")) << r.err;
}

TEST(CoverageTool, ExpectAllCoveredExits0) {
  Project p;
  encode_frames(p, "ev.msgpack", by_area_events());
  p.write("expect.txt", "# all there\nnet\n\ndisk\n");
  auto r = run_coverage(p, {"--from", "ev.msgpack", "--by", "area", "--expect", "expect.txt"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "  uncovered: 0\n")) << r.out;
  EXPECT_EQ(r.err, "");
}

TEST(CoverageTool, TruncatedStreamExits1WithAClearMessage) {
  Project p;
  encode_frames(p, "ev.msgpack", spec_example_events());
  std::string bytes = p.read("ev.msgpack");
  p.write("cut.msgpack", bytes.substr(0, bytes.size() - 3));
  auto r = run_coverage(p, {"--from", "cut.msgpack"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_TRUE(contains(r.err, "truncated")) << r.err;
  EXPECT_TRUE(contains(r.err, "cut.msgpack")) << r.err;
  // Cut inside a length prefix.
  p.write("cut2.msgpack", bytes + std::string("\x00\x00", 2));
  auto r2 = run_coverage(p, {"--from", "cut2.msgpack"});
  EXPECT_EQ(r2.exit_code, 1) << r2.out;
  EXPECT_TRUE(contains(r2.err, "truncated")) << r2.err;
}

TEST(CoverageTool, GarbageBytesExit1) {
  Project p;
  for (const std::string& junk : {std::string("this is not an event stream at all\n"),
                                  std::string("\x00\x00\x00\x05hello", 9),
                                  std::string("\x00\x00\x00\x04\x93\x01\x02\x03", 8)}) {
    p.write("junk.msgpack", junk);
    auto r = run_coverage(p, {"--from", "junk.msgpack"});
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_TRUE(contains(r.err, "junk.msgpack")) << r.err;
    EXPECT_EQ(r.out, "") << "no report on undecodable input";
  }
}

TEST(CoverageTool, MissingFileExits1NamingIt) {
  Project p;
  auto r = run_coverage(p, {"--from", "does-not-exist.msgpack"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "does-not-exist.msgpack")) << r.err;
}

TEST(CoverageTool, EmptyStreamIsAnEmptyReport) {
  Project p;
  p.write("empty.msgpack", "");
  auto r = run_coverage(p, {"--from", "empty.msgpack"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "coverage by `spec`:\n"
            "  ---\n"
            "  buckets: 0; 0 passed, 0 failed, 0 skipped\n"
            "  tests: 0 distinct; 0 passed, 0 failed, 0 skipped\n");
}

TEST(CoverageTool, ReadsStdinWithDashAndByDefault) {
  Project p;
  encode_frames(p, "ev.msgpack", spec_example_events());
  std::string bytes = p.read("ev.msgpack");
  auto r = run_coverage(p, {"--from", "-"}, bytes);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, kSpecExampleBody);
  auto r2 = run_coverage(p, {}, bytes);
  EXPECT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_EQ(r2.out, kSpecExampleBody);
}

TEST(CoverageTool, PipedFromEventsStdout) {
  Project p;
  p.write("a.test.lua", "test('x', {spec = 'P'}, function(t) end)\n");
  auto run = p.run(suite_args({"--events-stdout"}), {}, seconds(30));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto r = run_coverage(p, {}, run.out);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "  P: 1 tests (1 passed, 0 failed, 0 skipped)\n")) << r.out;
}

TEST(CoverageTool, UnknownKindsAndFieldsAreSkipped) {
  Project p;
  ojson events = spec_example_events();
  ojson future = {{"kind", "future_kind"},
                  {"payload",
                   {{"path", "a.test.lua"},
                    {"name", "t1"},
                    {"meta", {{"spec", "FUTURE"}}},
                    {"blob", {{"$bin", "00ff10"}}},
                    {"nested", {{"list", ojson::array({1, 2.5, "x"})}}}}}};
  events.insert(events.begin() + 2, future);
  events.insert(events.begin(), future);
  events.push_back(future);
  // An unknown field on a known kind is ignored too.
  for (auto& e : events)
    if (e["kind"] == "test_passed" && e["payload"]["name"] == "t2")
      e["payload"]["future_field"] = ojson{{"deep", ojson::array({true, nullptr})}};
  encode_frames(p, "ev.msgpack", events);
  auto d = decode_frames(p, "ev.msgpack");
  ASSERT_EQ(of_kind(d, "future_kind").size(), 3u);
  auto r = run_coverage(p, {"--from", "ev.msgpack"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, kSpecExampleBody);
}

TEST(CoverageTool, FromSocketOfALiveRun) {
  Project p;
  p.write("live.test.lua", R"lua(test("live one", {spec = "LIVE"}, function(t)
  local n = 0
  wait_until(function() n = n + 1; return n >= 10 end, {interval = 0.1, timeout = 10})
end)
)lua");
  fs::path sock = p.dir() / "ev.sock";
  Background bg(p, suite_args({"--events-socket", sock.string()}));
  auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (!fs::exists(fs::symlink_status(sock)) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(fs::exists(fs::symlink_status(sock))) << bg.err();
  auto r = run_coverage(p, {"--from-socket", sock.string()});
  auto run = bg.wait(seconds(20));
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "  LIVE: 1 tests (1 passed, 0 failed, 0 skipped)\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "  tests: 1 distinct; 1 passed, 0 failed, 0 skipped\n")) << r.out;
}

TEST(CoverageTool, FromSocketThatDoesNotExistExits1) {
  Project p;
  auto r = run_coverage(p, {"--from-socket", (p.dir() / "nope.sock").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "nope.sock")) << r.err;
}

TEST(CoverageTool, Version) {
  Project p;
  auto r = run_coverage(p, {"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "provium-coverage")) << r.out;
}

}  // namespace
