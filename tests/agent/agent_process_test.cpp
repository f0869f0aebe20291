// run_async and the process-handle ops, proc_stream, cancellation of wait, and concurrency of
// requests on one connection (REFERENCE §6.5, §6.7, §5.6).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "agent_harness.hpp"

namespace provium::agent_test {
namespace {

using Clock = std::chrono::steady_clock;

class AgentProcessTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(agent_.ok()); }
  void TearDown() override {
    // Kill through the agent (by handle) so a recycled pid is never hit.
    for (std::int64_t h : cleanup_)
      agent_.Call("kill", Obj({{"handle", Int(h)}, {"signal", Int(SIGKILL)}}), Millis(2000));
  }

  // run_async; returns the handle (or -1 after a failed expectation).
  std::int64_t Start(Value args) {
    auto r = agent_.Call("run_async", std::move(args));
    EXPECT_EQ(r.kind(), "run_async_result") << Describe(r.env);
    EXPECT_TRUE(IsOk(r.payload())) << Describe(r.env);
    std::int64_t h = AsInt(ValueOf(r.payload()));
    if (h != INT64_MIN) cleanup_.push_back(h);
    return h == INT64_MIN ? -1 : h;
  }

  Value WaitOk(std::int64_t h, std::optional<std::int64_t> timeout_ms = std::nullopt,
               Millis reply_timeout = kDefaultTimeout) {
    Value p = Obj({{"handle", Int(h)}});
    if (timeout_ms) p = With(p, "timeout_ms", Int(*timeout_ms));
    auto r = agent_.Call("wait", p, reply_timeout);
    EXPECT_EQ(r.kind(), "wait_result") << Describe(r.env);
    EXPECT_TRUE(IsOk(r.payload())) << Describe(r.env);
    return ValueOf(r.payload());
  }

  std::string Status(std::int64_t h) {
    auto r = agent_.Call("proc_status", Obj({{"handle", Int(h)}}));
    EXPECT_EQ(r.kind(), "proc_status_result") << Describe(r.env);
    EXPECT_TRUE(IsOk(r.payload())) << Describe(r.env);
    return AsStr(ValueOf(r.payload()));
  }

  AgentHarness agent_;
  std::vector<std::int64_t> cleanup_;
};

std::string StatusKind(const Value& ok) { return AsStr(Get(Get(ok, "status"), "kind")); }
std::int64_t StatusValue(const Value& ok) { return AsInt(Get(Get(ok, "status"), "value")); }

TEST_F(AgentProcessTest, RunAsyncThenWait) {
  std::int64_t h = Start(ShellExec("echo hi; echo oops >&2; exit 4"));
  ASSERT_GE(h, 0);
  Value ok = WaitOk(h);
  EXPECT_EQ(StatusKind(ok), "exited");
  EXPECT_EQ(StatusValue(ok), 4);
  EXPECT_EQ(AsBin(Get(ok, "stdout")), "hi\n");
  EXPECT_EQ(AsBin(Get(ok, "stderr")), "oops\n");
}

TEST_F(AgentProcessTest, WaitConsumesTheHandle) {
  std::int64_t h = Start(ShellExec("true"));
  ASSERT_GE(h, 0);
  WaitOk(h);
  auto again = agent_.Call("wait", Obj({{"handle", Int(h)}}));
  EXPECT_EQ(again.kind(), "agent_error") << Describe(again.env);
  EXPECT_EQ(AsStr(Get(again.payload(), "kind")), "unknown_handle");
  EXPECT_EQ(Status(h), "unknown");
}

TEST_F(AgentProcessTest, WaitWithTimeoutKillsTheGroupAndReportsTimedOut) {
  std::int64_t h = Start(ShellExec("echo started; sleep 30"));
  ASSERT_GE(h, 0);
  auto start = Clock::now();
  Value ok = WaitOk(h, 300);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(StatusKind(ok), "timed_out");
  EXPECT_EQ(AsBin(Get(ok, "stdout")), "started\n");
}

TEST_F(AgentProcessTest, WaitTimeoutNotReachedReturnsTheExit) {
  std::int64_t h = Start(ShellExec("exit 7"));
  ASSERT_GE(h, 0);
  Value ok = WaitOk(h, 5000);
  EXPECT_EQ(StatusKind(ok), "exited");
  EXPECT_EQ(StatusValue(ok), 7);
}

TEST_F(AgentProcessTest, KillDeliversTheSignal) {
  std::int64_t h = Start(ArgvExec("sleep", {"30"}));
  ASSERT_GE(h, 0);
  auto k = agent_.Call("kill", Obj({{"handle", Int(h)}, {"signal", Int(SIGTERM)}}));
  EXPECT_EQ(k.kind(), "kill_result");
  EXPECT_TRUE(IsOk(k.payload())) << Describe(k.env);
  EXPECT_TRUE(ValueOf(k.payload()).is_null());
  Value ok = WaitOk(h, 5000);
  EXPECT_EQ(StatusKind(ok), "signalled");
  EXPECT_EQ(StatusValue(ok), SIGTERM);
}

TEST_F(AgentProcessTest, UnknownProcessHandleIsUnknownHandle) {
  for (const char* kind :
       {"wait", "kill", "get_pid", "proc_stdin_write", "proc_stdin_close", "proc_stream"}) {
    Value p = Obj(
        {{"handle", Int(987654)}, {"signal", Int(15)}, {"data", Bin("x")}, {"channel", "stdout"}});
    auto r = agent_.Call(kind, p);
    EXPECT_EQ(r.kind(), "agent_error") << kind << " " << Describe(r.env);
    EXPECT_EQ(AsStr(Get(r.payload(), "kind")), "unknown_handle") << kind;
  }
  EXPECT_EQ(Status(987654), "unknown");
}

TEST_F(AgentProcessTest, GetPidNamesAProcessLeadingItsOwnGroup) {
  std::int64_t h = Start(ArgvExec("sleep", {"30"}));
  ASSERT_GE(h, 0);
  auto r = agent_.Call("get_pid", Obj({{"handle", Int(h)}}));
  ASSERT_TRUE(IsOk(r.payload())) << Describe(r.env);
  pid_t pid = static_cast<pid_t>(AsInt(ValueOf(r.payload())));
  ASSERT_GT(pid, 0);
  std::string cmdline = ReadHostFile("/proc/" + std::to_string(pid) + "/cmdline");
  EXPECT_EQ(cmdline.substr(0, 5), std::string("sleep"));
  EXPECT_EQ(::getpgid(pid), pid) << "every child gets its own process group";
  agent_.Call("kill", Obj({{"handle", Int(h)}, {"signal", Int(SIGKILL)}}));
  WaitOk(h);
}

TEST_F(AgentProcessTest, ProcStatusRunningThenExited) {
  std::int64_t h = Start(ShellExec("read x"));
  ASSERT_GE(h, 0);
  EXPECT_EQ(Status(h), "running");
  agent_.Call("proc_stdin_close", Obj({{"handle", Int(h)}}));
  std::string s;
  for (int i = 0; i < 100 && (s = Status(h)) == "running"; ++i)
    std::this_thread::sleep_for(Millis(20));
  EXPECT_EQ(s, "exited");
  auto k = agent_.Call("kill", Obj({{"handle", Int(h)}, {"signal", Int(SIGTERM)}}));
  EXPECT_EQ(ErrnoOf(k.payload()), ESRCH) << Describe(k.env);
  WaitOk(h);
}

TEST_F(AgentProcessTest, StdinWriteAndClose) {
  std::int64_t h = Start(ArgvExec("cat", {}));
  ASSERT_GE(h, 0);
  auto w1 = agent_.Call("proc_stdin_write", Obj({{"handle", Int(h)}, {"data", Bin("hello ")}}));
  EXPECT_EQ(w1.kind(), "proc_stdin_write_result");
  EXPECT_EQ(AsInt(Get(ValueOf(w1.payload()), "written")), 6) << Describe(w1.env);
  auto w2 = agent_.Call("proc_stdin_write", Obj({{"handle", Int(h)}, {"data", Bin("world")}}));
  EXPECT_EQ(AsInt(Get(ValueOf(w2.payload()), "written")), 5) << Describe(w2.env);
  auto c = agent_.Call("proc_stdin_close", Obj({{"handle", Int(h)}}));
  EXPECT_EQ(c.kind(), "proc_stdin_close_result");
  EXPECT_TRUE(IsOk(c.payload())) << Describe(c.env);
  auto w3 = agent_.Call("proc_stdin_write", Obj({{"handle", Int(h)}, {"data", Bin("late")}}));
  EXPECT_EQ(w3.kind(), "proc_stdin_write_result");
  EXPECT_EQ(AsStr(Get(w3.payload(), "outcome")), "err") << "writes after close must fail";
  Value ok = WaitOk(h, 5000);
  EXPECT_EQ(StatusKind(ok), "exited");
  EXPECT_EQ(AsBin(Get(ok, "stdout")), "hello world");
}

TEST_F(AgentProcessTest, InitialStdinKeepsStdinOpen) {
  std::int64_t h = Start(With(ArgvExec("cat", {}), "stdin", Bin("abc")));
  ASSERT_GE(h, 0);
  std::this_thread::sleep_for(Millis(100));
  EXPECT_EQ(Status(h), "running") << "stdin must stay open after the initial bytes";
  agent_.Call("proc_stdin_write", Obj({{"handle", Int(h)}, {"data", Bin("def")}}));
  agent_.Call("proc_stdin_close", Obj({{"handle", Int(h)}}));
  Value ok = WaitOk(h, 5000);
  EXPECT_EQ(AsBin(Get(ok, "stdout")), "abcdef");
}

TEST_F(AgentProcessTest, RunAsyncRejectsTimeoutMs) {
  auto r = agent_.Call("run_async", With(ShellExec("true"), "timeout_ms", Int(100)));
  EXPECT_EQ(r.kind(), "agent_error") << Describe(r.env);
  EXPECT_EQ(AsStr(Get(r.payload(), "kind")), "bad_request");
}

TEST_F(AgentProcessTest, RunAsyncMissingBinaryIsEnoent) {
  auto r = agent_.Call("run_async", ArgvExec("/nonexistent/provium-nope", {}));
  EXPECT_EQ(r.kind(), "run_async_result");
  EXPECT_EQ(ErrnoOf(r.payload()), ENOENT) << Describe(r.env);
}

TEST_F(AgentProcessTest, ProcStreamFollowsOutputOverTime) {
  std::int64_t h = Start(ShellExec("for i in 1 2 3 4; do echo line$i; sleep 0.2; done"));
  ASSERT_GE(h, 0);
  std::int64_t sid =
      agent_.Request("proc_stream", Obj({{"handle", Int(h)}, {"channel", "stdout"}}));
  auto ack = agent_.NextFor(sid);
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->kind, "proc_stream_result") << Describe(*ack);
  EXPECT_TRUE(IsOk(ack->payload));
  std::string data;
  auto start = Clock::now();
  std::optional<Clock::duration> first;
  std::optional<Envelope> end;
  while (auto e = agent_.NextFor(sid, Millis(5000))) {
    if (e->kind == "stream_frame") {
      ASSERT_TRUE(IsBin(Get(e->payload, "data")));
      data += AsBin(Get(e->payload, "data"));
      if (!first) first = Clock::now() - start;
    } else {
      end = e;
      break;
    }
  }
  auto total = Clock::now() - start;
  EXPECT_EQ(data, "line1\nline2\nline3\nline4\n");
  ASSERT_TRUE(end.has_value()) << "no stream_end";
  EXPECT_EQ(end->kind, "stream_end");
  EXPECT_EQ(AsStr(Get(end->payload, "reason")), "eof");
  ASSERT_TRUE(first.has_value());
  EXPECT_GT(total - *first, Millis(300)) << "output was not streamed while the process ran";
  Value ok = WaitOk(h);
  EXPECT_EQ(AsBin(Get(ok, "stdout")), data) << "streamed bytes are also kept for wait";
}

TEST_F(AgentProcessTest, ProcStreamStderrAndClose) {
  std::int64_t h = Start(ShellExec("echo to-err >&2; echo to-out; sleep 30"));
  ASSERT_GE(h, 0);
  std::int64_t sid =
      agent_.Request("proc_stream", Obj({{"handle", Int(h)}, {"channel", "stderr"}}));
  std::vector<Envelope> seen;
  auto frame = agent_.WaitFor(
      sid, [](const Envelope& e) { return e.kind == "stream_frame"; }, Millis(5000), &seen);
  ASSERT_TRUE(frame.has_value());
  EXPECT_EQ(AsBin(Get(frame->payload, "data")), "to-err\n");
  agent_.Request("stream_close", Obj({{"target", Int(sid)}}));
  auto end = agent_.WaitFor(
      sid, [](const Envelope& e) { return e.kind == "stream_end"; }, Millis(5000));
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(AsStr(Get(end->payload, "reason")), "closed");
  EXPECT_EQ(Status(h), "running") << "closing a stream must not touch the process";
  agent_.Call("kill", Obj({{"handle", Int(h)}, {"signal", Int(SIGKILL)}}));
  WaitOk(h);
}

TEST_F(AgentProcessTest, ProcStreamBadChannelIsBadRequest) {
  std::int64_t h = Start(ArgvExec("sleep", {"30"}));
  ASSERT_GE(h, 0);
  auto r = agent_.Call("proc_stream", Obj({{"handle", Int(h)}, {"channel", "stdboth"}}));
  EXPECT_EQ(r.kind(), "agent_error") << Describe(r.env);
  EXPECT_EQ(AsStr(Get(r.payload(), "kind")), "bad_request");
  agent_.Call("kill", Obj({{"handle", Int(h)}, {"signal", Int(SIGKILL)}}));
  WaitOk(h);
}

TEST_F(AgentProcessTest, CancelledWaitLeavesTheProcessAlone) {
  std::int64_t h = Start(ArgvExec("sleep", {"30"}));
  ASSERT_GE(h, 0);
  std::int64_t wid = agent_.Request("wait", Obj({{"handle", Int(h)}}));
  std::this_thread::sleep_for(Millis(200));
  agent_.Request("cancel", Obj({{"target", Int(wid)}}));
  auto r = agent_.Await(wid, Millis(5000));
  EXPECT_EQ(r.kind(), "wait_result") << Describe(r.env);
  EXPECT_EQ(ErrnoOf(r.payload()), ECANCELED);
  EXPECT_EQ(Status(h), "running");
  agent_.Call("kill", Obj({{"handle", Int(h)}, {"signal", Int(SIGKILL)}}));
  Value ok = WaitOk(h);
  EXPECT_EQ(StatusKind(ok), "signalled");
}

// §6.5: requests run concurrently; replies may arrive in any order; a slow request does not
// delay a fast one.
TEST_F(AgentProcessTest, SlowRequestDoesNotDelayFastOnes) {
  std::int64_t slow = agent_.Request("exec", ShellExec("sleep 1.5; echo slow"));
  std::int64_t sleeper = agent_.Request("sleep_clock", Obj({{"ns", Int(1'500'000'000)}}));
  auto start = Clock::now();
  std::int64_t fast = agent_.Request("read_file", Obj({{"path", "/proc/self/stat"}}));
  auto f = agent_.Await(fast, Millis(5000));
  EXPECT_EQ(f.kind(), "read_file_result");
  EXPECT_LT(Clock::now() - start, Millis(700)) << "a fast request waited behind a slow one";
  EXPECT_EQ(agent_.Call("ping").kind(), "pong");
  EXPECT_LT(Clock::now() - start, Millis(900));
  auto s = agent_.Await(slow, Millis(10000));
  EXPECT_TRUE(IsOk(s.payload())) << Describe(s.env);
  EXPECT_EQ(AsBin(Get(ValueOf(s.payload()), "stdout")), "slow\n");
  auto z = agent_.Await(sleeper, Millis(10000));
  EXPECT_EQ(z.kind(), "sleep_clock_result");
  EXPECT_TRUE(IsOk(z.payload()));
}

TEST_F(AgentProcessTest, TwoStreamsInterleaveWithFileRequests) {
  TempDir dir;
  WriteHostFile(dir / "f", "payload");
  std::int64_t a = Start(ShellExec("for i in 1 2 3 4 5 6 7 8; do echo a$i; sleep 0.1; done"));
  std::int64_t b = Start(ShellExec("for i in 1 2 3 4 5 6 7 8; do echo b$i; sleep 0.1; done"));
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  std::int64_t sa = agent_.Request("proc_stream", Obj({{"handle", Int(a)}, {"channel", "stdout"}}));
  std::int64_t sb = agent_.Request("proc_stream", Obj({{"handle", Int(b)}, {"channel", "stdout"}}));
  std::set<std::int64_t> reads;
  std::map<std::int64_t, std::string> data;
  std::vector<std::int64_t> order;  // ids of frames in arrival order
  std::set<std::int64_t> ended;
  auto deadline = Clock::now() + std::chrono::seconds(10);
  int next_read = 0;
  while (ended.size() < 2 && Clock::now() < deadline) {
    if (next_read < 6) {
      reads.insert(agent_.Request("read_file", Obj({{"path", dir / "f"}})));
      ++next_read;
    }
    auto e = agent_.NextAny(Millis(2000));
    if (!e) break;
    order.push_back(e->id);
    if (reads.count(e->id)) {
      EXPECT_EQ(e->kind, "read_file_result");
      EXPECT_EQ(AsBin(Get(ValueOf(e->payload), "data")), "payload");
      reads.erase(e->id);
    } else if (e->kind == "stream_frame") {
      data[e->id] += AsBin(Get(e->payload, "data"));
    } else if (e->kind == "stream_end") {
      ended.insert(e->id);
    }
  }
  EXPECT_EQ(ended.size(), 2u);
  EXPECT_TRUE(reads.empty()) << reads.size() << " read_file replies missing";
  EXPECT_EQ(data[sa], "a1\na2\na3\na4\na5\na6\na7\na8\n");
  EXPECT_EQ(data[sb], "b1\nb2\nb3\nb4\nb5\nb6\nb7\nb8\n");
  // Frames of the two streams interleave rather than one stream finishing first.
  int switches = 0;
  std::int64_t last = 0;
  for (auto id : order) {
    if (id != sa && id != sb) continue;
    if (last && id != last) ++switches;
    last = id;
  }
  EXPECT_GE(switches, 3) << "stream frames did not interleave";
  WaitOk(a);
  WaitOk(b);
}

// §6.5: "requests naming the same handle execute in arrival order".
TEST_F(AgentProcessTest, StdinWritesOnOneHandleRunInArrivalOrder) {
  std::int64_t h = Start(ArgvExec("cat", {}));
  ASSERT_GE(h, 0);
  std::vector<std::int64_t> ids;
  std::string expected;
  for (int i = 0; i < 100; ++i) {
    std::string piece = std::to_string(i) + ",";
    expected += piece;
    ids.push_back(
        agent_.Request("proc_stdin_write", Obj({{"handle", Int(h)}, {"data", Bin(piece)}})));
  }
  for (auto id : ids) EXPECT_TRUE(IsOk(agent_.Await(id).payload()));
  agent_.Call("proc_stdin_close", Obj({{"handle", Int(h)}}));
  Value ok = WaitOk(h, 5000);
  EXPECT_EQ(AsBin(Get(ok, "stdout")), expected);
}

}  // namespace
}  // namespace provium::agent_test
