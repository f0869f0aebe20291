// End-to-end checks of the event sinks (REFERENCE §2.2, §11.6): --events-stdout,
// --save-events (append, whole frames with concurrent writers) and --events-socket.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "events_test_util.hpp"

using namespace provium::e2e;
using namespace provium::e2e::obs;

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

std::set<std::string> names_of(const std::vector<ojson>& frames, const std::string& kind) {
  std::set<std::string> s;
  for (auto& f : of_kind(frames, kind)) s.insert(str_or(f["payload"], "name"));
  return s;
}

// ---- --events-stdout ------------------------------------------------------------------------

TEST(EventsStdout, FramesOnStdoutHumanTextOnStderr) {
  Project p;
  p.write("ok.test.lua", "test('one', {spec = 'S1'}, function(t) end)\n");
  auto r = p.run(suite_args({"--events-stdout"}), {}, seconds(30));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto d = decode_bytes(p, r.out);
  ASSERT_TRUE(d.ok) << "stdout must be only whole frames: " << d.error;
  EXPECT_EQ(names_of(d.frames, "test_passed"), std::set<std::string>{"one"});
  EXPECT_EQ(of_kind(d.frames, "file_completed").size(), 1u);
  EXPECT_TRUE(contains(r.err, "PASS ok.test.lua")) << r.err;
  EXPECT_TRUE(contains(r.err, "1 file(s); 1 passed, 0 failed, 0 skipped")) << r.err;
  EXPECT_FALSE(contains(r.out, "PASS ")) << "human text leaked into stdout";
}

TEST(EventsStdout, CombinedWithJsonIsAUsageError) {
  Project p;
  p.write("ok.test.lua", "test('one', function(t) end)\n");
  auto r = p.run(suite_args({"--events-stdout", "--json"}), {}, seconds(30));
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_FALSE(r.err.empty());
}

TEST(EventsStdout, CombinesWithSaveEvents) {
  Project p;
  p.write("ok.test.lua", "test('one', function(t) end)\n");
  auto r = p.run(suite_args({"--events-stdout", "--save-events", "ev.msgpack"}), {}, seconds(30));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto d = decode_bytes(p, r.out);
  ASSERT_TRUE(d.ok) << d.error;
  auto saved = decode_frames(p, "ev.msgpack");
  EXPECT_EQ(saved.size(), d.frames.size());
  EXPECT_EQ(names_of(saved, "test_passed"), std::set<std::string>{"one"});
}

// ---- --save-events --------------------------------------------------------------------------

TEST(EventsSaveEvents, AppendsToAnExistingFile) {
  Project p;
  p.write("ok.test.lua", "test('one', function(t) end)\n");
  ASSERT_EQ(p.run(suite_args({"--save-events", "ev.msgpack"}), {}, seconds(30)).exit_code, 0);
  size_t first = decode_frames(p, "ev.msgpack").size();
  ASSERT_GT(first, 0u);
  ASSERT_EQ(p.run(suite_args({"--save-events", "ev.msgpack"}), {}, seconds(30)).exit_code, 0);
  auto all = decode_frames(p, "ev.msgpack");
  EXPECT_EQ(all.size(), 2 * first);
  EXPECT_EQ(of_kind(all, "test_passed").size(), 2u);
}

TEST(EventsSaveEvents, ConcurrentProcessesAppendWholeFrames) {
  Project p;
  // Each file emits a few hundred frames spread over ~0.5 s, with payloads large enough that a
  // torn write would show.
  auto make = [](const std::string& prefix) {
    return "local pad = string.rep('" + prefix + "', 3000)\n" + "for i = 1, 250 do\n" + "  test('" +
           prefix + "' .. i, {pad = pad}, function(t)\n" +
           "    local s = os.clock() while os.clock() - s < 0.002 do end\n" + "  end)\n" + "end\n";
  };
  p.write("a/a.test.lua", make("a"));
  p.write("b/b.test.lua", make("b"));
  fs::path file = p.dir() / "shared.msgpack";
  Background a(p, suite_args({"a", "--save-events", file.string()}));
  Background b(p, suite_args({"b", "--save-events", file.string()}));
  auto ra = a.wait(seconds(30));
  auto rb = b.wait(seconds(30));
  ASSERT_EQ(ra.exit_code, 0) << ra.err;
  ASSERT_EQ(rb.exit_code, 0) << rb.err;
  auto frames = decode_frames(p, "shared.msgpack");
  std::set<std::string> a_names, b_names;
  for (auto& f : of_kind(frames, "test_passed")) {
    std::string n = str_or(f["payload"], "name");
    (n[0] == 'a' ? a_names : b_names).insert(n);
    EXPECT_EQ(f["payload"]["meta"]["pad"].get<std::string>().size(), 3000u);
  }
  EXPECT_EQ(a_names.size(), 250u);
  EXPECT_EQ(b_names.size(), 250u);
  EXPECT_EQ(of_kind(frames, "file_completed").size(), 2u);
}

// ---- --events-socket ------------------------------------------------------------------------

TEST(EventsSocket, ConnectedClientReceivesFramesAndSocketIsUnlinkedOnExit) {
  Project p;
  p.write("slow.test.lua", R"lua(test("waits", {spec = "S-sock"}, function(t)
  local n = 0
  wait_until(function() n = n + 1; return n >= 10 end, {interval = 0.1, timeout = 10})
end)
)lua");
  fs::path sock = p.dir() / "ev.sock";
  Background bg(p, suite_args({"--events-socket", sock.string()}));
  int fd = connect_unix(sock, seconds(10));
  ASSERT_GE(fd, 0) << "could not connect to " << sock << "; stderr: " << bg.err();
  std::string bytes = read_until_eof(fd, seconds(20));
  ::close(fd);
  auto r = bg.wait(seconds(20));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto d = decode_bytes(p, bytes);
  ASSERT_TRUE(d.ok) << d.error;
  EXPECT_EQ(names_of(d.frames, "test_passed"), std::set<std::string>{"waits"});
  EXPECT_EQ(of_kind(d.frames, "file_completed").size(), 1u);
  EXPECT_FALSE(fs::exists(fs::symlink_status(sock))) << "socket must be unlinked on exit";
}

TEST(EventsSocket, TwoClientsBothReceiveTheFanOut) {
  Project p;
  p.write("slow.test.lua", R"lua(test("waits", function(t)
  local n = 0
  wait_until(function() n = n + 1; return n >= 10 end, {interval = 0.1, timeout = 10})
end)
)lua");
  fs::path sock = p.dir() / "ev.sock";
  Background bg(p, suite_args({"--events-socket", sock.string()}));
  int fd1 = connect_unix(sock, seconds(10));
  int fd2 = connect_unix(sock, seconds(10));
  ASSERT_GE(fd1, 0);
  ASSERT_GE(fd2, 0);
  std::string b2;
  std::thread t([&] { b2 = read_until_eof(fd2, seconds(20)); });
  std::string b1 = read_until_eof(fd1, seconds(20));
  t.join();
  ::close(fd1);
  ::close(fd2);
  EXPECT_EQ(bg.wait(seconds(20)).exit_code, 0);
  for (auto* b : {&b1, &b2}) {
    auto d = decode_bytes(p, *b);
    ASSERT_TRUE(d.ok) << d.error;
    EXPECT_EQ(names_of(d.frames, "test_passed"), std::set<std::string>{"waits"});
  }
}

TEST(EventsSocket, PathThatIsARegularFileWarnsAndTheRunStillPasses) {
  Project p;
  p.write("ok.test.lua", "test('one', function(t) end)\n");
  p.write("notasocket", "user data\n");
  auto r = p.run(suite_args({"--events-socket", "notasocket"}), {}, seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "warning")) << r.err;
  EXPECT_TRUE(contains(r.err, "notasocket")) << r.err;
  EXPECT_TRUE(contains(r.out, "PASS ok.test.lua")) << r.out;
  EXPECT_EQ(p.read("notasocket"), "user data\n") << "a user's regular file must not be clobbered";
}

TEST(EventsSocket, ClientThatNeverReadsDoesNotSlowOrFailTheRun) {
  // 600 tests with 4 KiB of meta each: ~5 MB of frames, far more than a socket buffer.
  const std::string body = R"lua(wait_until(function() return io.open("go") ~= nil end,
           {interval = 0.01, timeout = 10})
local pad = string.rep("x", 4096)
for i = 1, 600 do test("t" .. i, {pad = pad}, function(t) end) end
)lua";
  // Baseline: the same run without a socket client.
  Project base;
  base.write("many.test.lua", body);
  base.write("go", "");
  auto b0 = Clock::now();
  auto rb = base.run(suite_args({"--save-events", "ev.msgpack"}), {}, seconds(30));
  auto baseline = Clock::now() - b0;
  ASSERT_EQ(rb.exit_code, 0) << rb.err;

  Project p;
  p.write("many.test.lua", body);
  fs::path sock = p.dir() / "ev.sock";
  auto s0 = Clock::now();
  Background bg(p, suite_args({"--events-socket", sock.string()}));
  int fd = connect_unix(sock, seconds(10));
  ASSERT_GE(fd, 0) << bg.err();
  p.write("go", "");  // release the file scope only once the idle client is connected
  auto r = bg.wait(seconds(30));
  auto elapsed = Clock::now() - s0;
  ::close(fd);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "600 passed")) << r.out;
  EXPECT_LT(std::chrono::duration_cast<milliseconds>(elapsed - baseline).count(), 2000)
      << "baseline " << std::chrono::duration_cast<milliseconds>(baseline).count()
      << " ms, with an idle client " << std::chrono::duration_cast<milliseconds>(elapsed).count()
      << " ms";
}

}  // namespace
