// End-to-end checks of the pool-related events (REFERENCE §10.2, §10.5, §11.2, §11.3):
// file_blocked with reason pool_full when the per-file overhead has to wait.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "events_test_util.hpp"

using namespace provium::e2e;
using namespace provium::e2e::obs;

namespace {

constexpr long long kMiB = 1024LL * 1024;

TEST(EventsPool, FileWaitingForTheOverheadEmitsFileBlockedBeforeItsDispatch) {
  Project p;
  const char* body = R"lua(test("holds", function(t)
  local n = 0
  wait_until(function() n = n + 1; return n >= 4 end, {interval = 0.1, timeout = 10})
end)
)lua";
  p.write("a.test.lua", body);
  p.write("b.test.lua", body);
  // 64 MiB of pool: one 50 MiB per-file overhead at a time.
  auto r = p.run(
      {"--no-preflight", "--no-ksm", "--mem", "64M", "--cpus", "4", "--save-events", "ev.msgpack"},
      {}, std::chrono::seconds(30));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto frames = decode_frames(p, "ev.msgpack");
  // Positions of each file's dispatch and completion.
  std::map<std::string, size_t> dispatched, completed;
  for (size_t i = 0; i < frames.size(); ++i) {
    std::string k = frames[i]["kind"];
    std::string fp = str_or(frames[i]["payload"], "path");
    if (k == "file_dispatched") dispatched[fp] = i;
    if (k == "file_completed") completed[fp] = i;
  }
  ASSERT_EQ(dispatched.size(), 2u);
  ASSERT_EQ(completed.size(), 2u);
  std::string first =
      dispatched["a.test.lua"] < dispatched["b.test.lua"] ? "a.test.lua" : "b.test.lua";
  std::string second = first == "a.test.lua" ? "b.test.lua" : "a.test.lua";
  EXPECT_LT(completed[first], dispatched[second])
      << "two 50 MiB overheads do not fit a 64 MiB pool; the second file must wait";

  std::vector<ojson> blocked;
  for (auto& f : of_kind(frames, "file_blocked"))
    if (str_or(f["payload"], "reason") == "pool_full") blocked.push_back(f);
  ASSERT_EQ(blocked.size(), 1u) << "exactly one of the two files has to wait";
  auto& pl = blocked[0]["payload"];
  EXPECT_EQ(str_or(pl, "path"), second) << pl.dump();
  EXPECT_EQ(pl["waiting_for"]["memory_bytes"], 50 * kMiB) << pl.dump();
  EXPECT_EQ(pl["waiting_for"]["cpus"], 0) << pl.dump();
  // §11.3: blocked events of a file come before its single dispatch.
  size_t blocked_at = 0;
  for (size_t i = 0; i < frames.size(); ++i)
    if (frames[i]["kind"] == "file_blocked" && str_or(frames[i]["payload"], "path") == second)
      blocked_at = i;
  EXPECT_LT(blocked_at, dispatched[second]);
}

TEST(EventsPool, PoolStateReflectsMemAndCpusFlags) {
  Project p;
  p.write("a.test.lua", R"lua(test("long", function(t)
  local n = 0
  wait_until(function() n = n + 1; return n >= 13 end, {interval = 0.1, timeout = 10})
end)
)lua");
  auto r = p.run({"--no-preflight", "--no-ksm", "--mem", "3G", "--cpus", "3", "--cpu-overcommit",
                  "2", "--save-events", "ev.msgpack"},
                 {}, std::chrono::seconds(30));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto ps = of_kind(decode_frames(p, "ev.msgpack"), "pool_state");
  ASSERT_GE(ps.size(), 1u);
  for (auto& f : ps) {
    auto& pl = f["payload"];
    EXPECT_EQ(pl["used"]["memory_bytes"].get<long long>() +
                  pl["available"]["memory_bytes"].get<long long>(),
              3 * 1024 * kMiB)
        << f.dump();
    // --cpus 3 with --cpu-overcommit 2: 6 vCPUs.
    EXPECT_EQ(pl["used"]["cpus"].get<long long>() + pl["available"]["cpus"].get<long long>(), 6)
        << f.dump();
  }
}

}  // namespace
