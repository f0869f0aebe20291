// End-to-end checks of the event stream written by `provium --save-events`, decoded by an
// independent Python/msgpack decoder: kinds and payloads (REFERENCE §11.2), ordering
// guarantees (§11.3) and the MetaValue encoding (§11.4).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "events_test_util.hpp"

using namespace provium::e2e;
using namespace provium::e2e::obs;

namespace {

constexpr long long kMiB = 1024LL * 1024;
constexpr long long kGiB = 1024LL * kMiB;

// One realistic run shared by every test of the suite below (it lasts ~1.5 s because of the
// long file, which is what makes pool_state appear).
class EventsStream : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    proj_ = new Project();
    Project& p = *proj_;
    p.write("a_main.test.lua", R"lua(provium:claim{memory="1G", cpus=2}
test("passes", {spec = "S1", tags = {"x"}}, function(t) t:log("hello") end)
test("fails", {spec = {"S1", "S2"}}, function(t) t:assert_eq(1, 2) end)
test("skips inside", function(t) t:skip("not today") end)
test("meta skip", {skip = "because"}, function(t) error("must not run") end)
test("slow one", {slow = true}, function(t) error("must not run") end)
test("uses fixture", {skip = true}, function(t) provium:vm_fixture("fx/base") end)
test("flaky one", {tags = {"flaky"}}, function(t) error("must not run") end)
)lua");
    p.write("b_chunk.test.lua", R"lua(provium:claim{memory = "256M"}
error("boom at file scope")
)lua");
    p.write("c_todo.test.lua", R"lua(todo("later")
test("todo one", {spec = "S3"}, function(t) error("must not run") end)
)lua");
    p.write("d_meta.test.lua", R"lua(test("typed", {
  s = "plain", u = "\u{a7} utf8 \u{2713}", b = "\xff\xfe\x00x", i = 42, neg = -7, f = 1.5,
  whole = 2.0, yes = true, no = false, arr = {"a", "b", 3}, empty = {},
  map = {x = 1, y = "z"}, intkeys = {[1] = "a", [3] = "c"}, mixed = {1, 2, k = "v"},
  nested = {inner = {deep = {1, 2.5}}, list = {{a = 1}, {b = 2}}},
  Zed = 1, alpha = 2, ["0num"] = 3,
}, function(t) end)
)lua");
    // Kept apart: values with no MetaValue of their own become Null (§11.4).
    p.write("f_nullmeta.test.lua", R"lua(test("function", {fn = print, n = 1}, function(t) end)
test("userdata", {ud = io.stdout}, function(t) end)
local cyc = {name = "c"}
cyc.self = cyc
test("cycle", {cyc = cyc}, function(t) end)
)lua");
    p.write("e_long.test.lua", R"lua(test("long", {spec = "S1"}, function(t)
  local n = 0
  wait_until(function() n = n + 1; return n >= 15 end, {interval = 0.1, timeout = 10})
end)
)lua");
    p.write("fx/base.fixture.lua",
            "local vm = provium:vm('b', 'debian')\nvm:boot()\n"
            "return vm:snapshot()\n");
    t0_ns_ = now_ns();
    run_ = new RunOutput(p.run(suite_args({"--save-events", "ev.msgpack", "--no-tag", "flaky"}), {},
                               std::chrono::seconds(30)));
    t1_ns_ = now_ns();
    auto d = decode_frames_at(p.dir(), "ev.msgpack");
    decode_error_ = new std::string(d.error);
    frames_ = new std::vector<ojson>(std::move(d.frames));
  }
  static void TearDownTestSuite() {
    delete frames_;
    delete run_;
    delete decode_error_;
    delete proj_;
  }

  static long long now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  // Every event carrying `path` as its test-file path (path or file field).
  static std::vector<std::pair<size_t, ojson>> events_for(const std::string& path) {
    std::vector<std::pair<size_t, ojson>> out;
    for (size_t i = 0; i < frames_->size(); ++i) {
      auto& pl = (*frames_)[i]["payload"];
      if (str_or(pl, "path") == path || str_or(pl, "file") == path)
        out.push_back({i, (*frames_)[i]});
    }
    return out;
  }

  // The test_* events of one test, in stream order.
  static std::vector<ojson> test_events(const std::string& path, const std::string& name) {
    std::vector<ojson> out;
    for (auto& f : *frames_) {
      std::string k = f["kind"].get<std::string>();
      if (k.rfind("test_", 0) != 0) continue;
      if (str_or(f["payload"], "path") == path && str_or(f["payload"], "name") == name)
        out.push_back(f);
    }
    return out;
  }

  static std::vector<std::string> kinds(const std::vector<ojson>& v) {
    std::vector<std::string> out;
    for (auto& f : v) out.push_back(f["kind"].get<std::string>());
    return out;
  }

  static ojson only(const std::string& kind, const std::string& path) {
    ojson found;
    int n = 0;
    for (auto& f : *frames_)
      if (f["kind"] == kind && str_or(f["payload"], "path") == path) {
        found = f;
        ++n;
      }
    EXPECT_EQ(n, 1) << kind << " for " << path;
    return found;
  }

  static inline Project* proj_ = nullptr;
  static inline RunOutput* run_ = nullptr;
  static inline std::vector<ojson>* frames_ = nullptr;
  static inline std::string* decode_error_ = nullptr;
  static inline long long t0_ns_ = 0, t1_ns_ = 0;
};

const std::vector<std::string> kFiles = {"a_main.test.lua", "b_chunk.test.lua",
                                         "c_todo.test.lua", "d_meta.test.lua",
                                         "e_long.test.lua", "f_nullmeta.test.lua"};

TEST_F(EventsStream, RunFailsAndTheWholeFileDecodes) {
  EXPECT_EQ(run_->exit_code, 1) << run_->out << run_->err;
  EXPECT_EQ(*decode_error_, "");
  EXPECT_GT(frames_->size(), 20u);
}

TEST_F(EventsStream, TimestampsAreNanosecondsSinceEpochWithinTheRun) {
  for (auto& f : *frames_) {
    ASSERT_TRUE(f["ts"].is_number_integer()) << f.dump();
    long long ts = f["ts"].get<long long>();
    EXPECT_GE(ts, t0_ns_ - 2'000'000'000LL) << f.dump();
    EXPECT_LE(ts, t1_ns_ + 2'000'000'000LL) << f.dump();
  }
}

TEST_F(EventsStream, FileDiscoveredForEveryTestFileWithFields) {
  std::set<std::string> paths;
  for (auto& f : of_kind(*frames_, "file_discovered")) {
    auto& pl = f["payload"];
    ASSERT_TRUE(pl["path"].is_string()) << f.dump();
    paths.insert(pl["path"].get<std::string>());
    ASSERT_TRUE(pl.contains("fixture_refs")) << f.dump();
    ASSERT_TRUE(pl["fixture_refs"].is_array()) << f.dump();
    for (auto& r : pl["fixture_refs"]) EXPECT_TRUE(r.is_string()) << f.dump();
    EXPECT_TRUE(pl.contains("declared_claim")) << f.dump();
  }
  EXPECT_EQ(paths, std::set<std::string>(kFiles.begin(), kFiles.end()));
  EXPECT_EQ(of_kind(*frames_, "file_discovered").size(), kFiles.size());
}

TEST_F(EventsStream, FixtureRefsComeFromAStaticScan) {
  auto a = only("file_discovered", "a_main.test.lua");
  EXPECT_EQ(a["payload"]["fixture_refs"], ojson::array({"fx/base"})) << a.dump();
  auto d = only("file_discovered", "d_meta.test.lua");
  EXPECT_EQ(d["payload"]["fixture_refs"], ojson::array()) << d.dump();
}

TEST_F(EventsStream, DeclaredClaimFilledFromLiteralClaim) {
  auto a = only("file_discovered", "a_main.test.lua")["payload"]["declared_claim"];
  ASSERT_TRUE(a.is_object()) << a.dump();
  EXPECT_EQ(a["memory_bytes"], kGiB);
  EXPECT_EQ(a["cpus"], 2);
  auto b = only("file_discovered", "b_chunk.test.lua")["payload"]["declared_claim"];
  ASSERT_TRUE(b.is_object()) << b.dump();
  EXPECT_EQ(b["memory_bytes"], 256 * kMiB);
  EXPECT_EQ(b["cpus"], 0);
  for (const char* f :
       {"c_todo.test.lua", "d_meta.test.lua", "e_long.test.lua", "f_nullmeta.test.lua"}) {
    auto c = only("file_discovered", f)["payload"];
    EXPECT_TRUE(c.contains("declared_claim") && c["declared_claim"].is_null()) << c.dump();
  }
}

TEST_F(EventsStream, FileDispatchedCarriesThePerFileOverheadReservation) {
  for (auto& path : kFiles) {
    auto f = only("file_dispatched", path);
    auto& res = f["payload"]["reservation"];
    ASSERT_TRUE(res.is_object()) << f.dump();
    EXPECT_EQ(res["memory_bytes"], 50 * kMiB) << f.dump();
    EXPECT_EQ(res["cpus"], 0) << f.dump();
  }
}

TEST_F(EventsStream, FileCompletedStatusAndDuration) {
  std::map<std::string, std::string> want = {{"a_main.test.lua", "failed"},
                                             {"b_chunk.test.lua", "failed"},
                                             {"c_todo.test.lua", "passed"},
                                             {"d_meta.test.lua", "passed"},
                                             {"e_long.test.lua", "passed"}};
  for (auto& [path, status] : want) {
    auto f = only("file_completed", path);
    EXPECT_EQ(f["payload"]["status"], status) << f.dump();
    ASSERT_TRUE(is_u64(f["payload"]["duration_ns"])) << f.dump();
  }
  auto e = only("file_completed", "e_long.test.lua");
  EXPECT_GE(e["payload"]["duration_ns"].get<long long>(), 1'000'000'000LL) << e.dump();
}

TEST_F(EventsStream, TestStartedAndPassedFields) {
  auto ev = test_events("a_main.test.lua", "passes");
  ASSERT_EQ(kinds(ev), (std::vector<std::string>{"test_started", "test_passed"}));
  ojson meta = {{"spec", "S1"}, {"tags", ojson::array({"x"})}};
  EXPECT_EQ(ev[0]["payload"]["meta"], meta) << ev[0].dump();
  EXPECT_EQ(ev[1]["payload"]["meta"], meta) << ev[1].dump();
  EXPECT_TRUE(is_u64(ev[1]["payload"]["duration_ns"])) << ev[1].dump();
  auto lg = test_events("e_long.test.lua", "long");
  ASSERT_EQ(kinds(lg), (std::vector<std::string>{"test_started", "test_passed"}));
  EXPECT_GE(lg[1]["payload"]["duration_ns"].get<long long>(), 1'000'000'000LL) << lg[1].dump();
}

TEST_F(EventsStream, TestFailedFields) {
  auto ev = test_events("a_main.test.lua", "fails");
  ASSERT_EQ(kinds(ev), (std::vector<std::string>{"test_started", "test_failed"}));
  auto& pl = ev[1]["payload"];
  EXPECT_TRUE(contains(str_or(pl, "reason"), "1 ~= 2")) << pl.dump();
  EXPECT_TRUE(pl.contains("console_excerpt") && pl["console_excerpt"].is_string()) << pl.dump();
  EXPECT_TRUE(is_u64(pl["duration_ns"])) << pl.dump();
  EXPECT_EQ(pl["meta"], (ojson{{"spec", ojson::array({"S1", "S2"})}})) << pl.dump();
}

TEST_F(EventsStream, TSkipIsStartedThenSkippedWithReason) {
  auto ev = test_events("a_main.test.lua", "skips inside");
  ASSERT_EQ(kinds(ev), (std::vector<std::string>{"test_started", "test_skipped"}));
  EXPECT_EQ(str_or(ev[1]["payload"], "reason"), "not today") << ev[1].dump();
  EXPECT_EQ(ev[1]["payload"]["meta"], ojson::object()) << ev[1].dump();
}

TEST_F(EventsStream, TestsSkippedWithoutRunningAreALoneTestSkipped) {
  struct Want {
    const char* path;
    const char* name;
    const char* reason;
    ojson meta;
  };
  std::vector<Want> wants = {
      {"a_main.test.lua", "meta skip", "skipped: because", {{"skip", "because"}}},
      {"a_main.test.lua",
       "slow one",
       "filtered: slow tests skipped (pass --include-slow)",
       {{"slow", true}}},
      {"a_main.test.lua", "uses fixture", "skipped (meta.skip)", {{"skip", true}}},
      {"a_main.test.lua",
       "flaky one",
       "filtered: tagged `flaky` (--no-tag)",
       {{"tags", ojson::array({"flaky"})}}},
      {"c_todo.test.lua", "todo one", "later", {{"spec", "S3"}}},
  };
  for (auto& w : wants) {
    auto ev = test_events(w.path, w.name);
    ASSERT_EQ(kinds(ev), std::vector<std::string>{"test_skipped"}) << w.name;
    EXPECT_EQ(str_or(ev[0]["payload"], "reason"), w.reason) << ev[0].dump();
    EXPECT_EQ(ev[0]["payload"]["meta"], w.meta) << ev[0].dump();
  }
}

TEST_F(EventsStream, ChunkErrorFileHasNoTestEventsButCompletes) {
  for (auto& [i, f] : events_for("b_chunk.test.lua"))
    EXPECT_EQ(std::string(f["kind"]).rfind("test_", 0), std::string::npos) << f.dump();
  EXPECT_EQ(only("file_completed", "b_chunk.test.lua")["payload"]["status"], "failed");
}

TEST_F(EventsStream, ClaimAcquiredAndReleasedPairEvenOnChunkError) {
  std::map<std::string, ojson> want = {
      {"a_main.test.lua", {{"memory_bytes", kGiB}, {"cpus", 2}}},
      {"b_chunk.test.lua", {{"memory_bytes", 256 * kMiB}, {"cpus", 0}}}};
  for (auto& [path, amount] : want) {
    auto ev = events_for(path);
    std::vector<std::string> claim_kinds;
    for (auto& [i, f] : ev) {
      std::string k = f["kind"];
      if (k != "claim_acquired" && k != "claim_released") continue;
      claim_kinds.push_back(k);
      auto& a = f["payload"]["amount"];
      EXPECT_EQ(a["memory_bytes"], amount["memory_bytes"]) << f.dump();
      EXPECT_EQ(a["cpus"], amount["cpus"]) << f.dump();
    }
    EXPECT_EQ(claim_kinds, (std::vector<std::string>{"claim_acquired", "claim_released"})) << path;
  }
  EXPECT_EQ(of_kind(*frames_, "claim_acquired").size(), 2u);
  EXPECT_EQ(of_kind(*frames_, "claim_released").size(), 2u);
}

TEST_F(EventsStream, PoolStateEmittedDuringARunLongerThanOneSecond) {
  auto ps = of_kind(*frames_, "pool_state");
  ASSERT_GE(ps.size(), 1u);
  for (auto& f : ps) {
    auto& pl = f["payload"];
    for (const char* k : {"used", "available"}) {
      ASSERT_TRUE(pl[k].is_object()) << f.dump();
      EXPECT_TRUE(is_u64(pl[k]["memory_bytes"])) << f.dump();
      EXPECT_TRUE(is_u64(pl[k]["cpus"])) << f.dump();
    }
    // --mem 8G --cpus 4: what is used plus what is available is the pool.
    EXPECT_EQ(pl["used"]["memory_bytes"].get<long long>() +
                  pl["available"]["memory_bytes"].get<long long>(),
              8 * kGiB)
        << f.dump();
    EXPECT_EQ(pl["used"]["cpus"].get<long long>() + pl["available"]["cpus"].get<long long>(), 4)
        << f.dump();
  }
}

TEST_F(EventsStream, EveryFileDiscoveredPrecedesAnyFileDispatched) {
  size_t last_discovered = 0, first_dispatched = frames_->size();
  for (size_t i = 0; i < frames_->size(); ++i) {
    if ((*frames_)[i]["kind"] == "file_discovered") last_discovered = i;
    if ((*frames_)[i]["kind"] == "file_dispatched")
      first_dispatched = std::min(first_dispatched, i);
  }
  ASSERT_LT(first_dispatched, frames_->size());
  EXPECT_LT(last_discovered, first_dispatched);
}

TEST_F(EventsStream, PerFileOneDispatchOneCompletionWhichIsLast) {
  for (auto& path : kFiles) {
    auto ev = events_for(path);
    ASSERT_FALSE(ev.empty()) << path;
    int dispatched = 0, completed = 0;
    size_t dispatch_pos = 0;
    for (size_t k = 0; k < ev.size(); ++k) {
      std::string kind = ev[k].second["kind"];
      if (kind == "file_dispatched") {
        ++dispatched;
        dispatch_pos = k;
      }
      if (kind == "file_completed") ++completed;
    }
    EXPECT_LE(dispatched, 1) << path;
    EXPECT_EQ(completed, 1) << path;
    EXPECT_EQ(ev.back().second["kind"], "file_completed") << path;
    // Every test event of the file is in flight: after the dispatch.
    for (size_t k = 0; k < ev.size(); ++k) {
      if (std::string(ev[k].second["kind"]).rfind("test_", 0) == 0) {
        EXPECT_GT(k, dispatch_pos) << path << ": " << ev[k].second.dump();
      }
    }
  }
}

TEST_F(EventsStream, EveryTestIsStartedThenOneOutcomeOrALoneSkip) {
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> seq;
  for (auto& f : *frames_) {
    std::string k = f["kind"];
    if (k.rfind("test_", 0) != 0) continue;
    if (str_or(f["payload"], "path") == "f_nullmeta.test.lua") continue;  // checked apart
    seq[{str_or(f["payload"], "path"), str_or(f["payload"], "name")}].push_back(k);
  }
  EXPECT_EQ(seq.size(), 10u);
  for (auto& [id, kinds] : seq) {
    bool started_then_one =
        kinds.size() == 2 && kinds[0] == "test_started" &&
        (kinds[1] == "test_passed" || kinds[1] == "test_failed" || kinds[1] == "test_skipped");
    bool lone_skip = kinds.size() == 1 && kinds[0] == "test_skipped";
    EXPECT_TRUE(started_then_one || lone_skip) << id.first << " / " << id.second;
  }
}

// ---- MetaValue encoding (§11.4), from the `typed` test of d_meta.test.lua ----------------------

void expect_sorted_keys(const ojson& j, const std::string& where) {
  if (j.is_object()) {
    auto k = keys_of(j);
    if (k.size() == 1 && k[0] == "$bin") return;
    auto sorted = k;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(k, sorted) << "keys of " << where << " are not sorted: " << j.dump();
    for (auto& [key, v] : j.items()) expect_sorted_keys(v, where + "." + key);
  } else if (j.is_array()) {
    for (auto& v : j) expect_sorted_keys(v, where + "[]");
  }
}

TEST_F(EventsStream, MetaEncodingPreservesMsgpackTypes) {
  auto ev = test_events("d_meta.test.lua", "typed");
  ASSERT_EQ(kinds(ev), (std::vector<std::string>{"test_started", "test_passed"}));
  for (auto& f : ev) {
    auto& m = f["payload"]["meta"];
    ASSERT_TRUE(m.is_object()) << f.dump();
    EXPECT_EQ(m["s"], "plain");
    EXPECT_EQ(m["u"], "\u00a7 utf8 \u2713") << "valid UTF-8 must stay a str";
    EXPECT_EQ(m["b"], (ojson{{"$bin", "fffe0078"}})) << "non-UTF-8 string must be bin";
    EXPECT_TRUE(m["i"].is_number_integer() && m["i"] == 42) << m["i"].dump();
    EXPECT_TRUE(m["neg"].is_number_integer() && m["neg"] == -7) << m["neg"].dump();
    EXPECT_TRUE(m["f"].is_number_float() && m["f"] == 1.5) << m["f"].dump();
    EXPECT_TRUE(m["whole"].is_number_float())
        << "Lua float 2.0 must stay a float: " << m["whole"].dump();
    EXPECT_EQ(m["yes"], true);
    EXPECT_EQ(m["no"], false);
    EXPECT_EQ(m["arr"], (ojson::array({"a", "b", 3})));
    EXPECT_TRUE(m["empty"].is_array() && m["empty"].empty()) << "empty table is an empty array";
    EXPECT_EQ(m["map"], (ojson{{"x", 1}, {"y", "z"}}));
    EXPECT_EQ(m["intkeys"], (ojson{{"1", "a"}, {"3", "c"}})) << "keys not 1..N: a map";
    EXPECT_EQ(m["mixed"], (ojson{{"1", 1}, {"2", 2}, {"k", "v"}})) << "any string key: a map";
    EXPECT_EQ(m["nested"], (ojson{{"inner", {{"deep", ojson::array({1, 2.5})}}},
                                  {"list", ojson::array({ojson{{"a", 1}}, ojson{{"b", 2}}})}}));
    EXPECT_EQ(m["Zed"], 1);
    EXPECT_EQ(m["alpha"], 2);
    EXPECT_EQ(m["0num"], 3);
    expect_sorted_keys(m, "meta");
  }
}

}  // namespace

namespace {

TEST_F(EventsStream, FunctionsUserdataAndCyclesInMetaBecomeNull) {
  struct Want {
    const char* name;
    ojson meta;
  };
  std::vector<Want> wants = {{"function", {{"fn", nullptr}, {"n", 1}}},
                             {"userdata", {{"ud", nullptr}}},
                             {"cycle", {{"cyc", {{"name", "c"}, {"self", nullptr}}}}}};
  for (auto& w : wants) {
    auto ev = test_events("f_nullmeta.test.lua", w.name);
    ASSERT_EQ(kinds(ev), (std::vector<std::string>{"test_started", "test_passed"}))
        << w.name << ": " << (ev.empty() ? std::string() : ev.back().dump());
    for (auto& f : ev) EXPECT_EQ(f["payload"]["meta"], w.meta) << f.dump();
  }
}

}  // namespace
