// Workers over the socketpair harness (REFERENCE §5.11, §6.7, §6.10): a re-executed agent with
// its own credentials and handle table, reached through the main agent's relay.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "agent_harness.hpp"

namespace provium::agent_test {
namespace {

using Clock = std::chrono::steady_clock;

class AgentWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(agent_.ok()); }

  std::int64_t Spawn(Value opts = Obj({})) {
    auto r = agent_.Call("spawn_worker", std::move(opts));
    EXPECT_EQ(r.kind(), "spawn_worker_result") << Describe(r.env);
    EXPECT_TRUE(IsOk(r.payload())) << Describe(r.env);
    return AsInt(ValueOf(r.payload()));
  }

  Reply Exec(std::int64_t w, const std::string& script) {
    return agent_.Call("worker_exec", Obj({{"handle", Int(w)}, {"exec", ShellExec(script)}}));
  }

  std::string ExecOut(std::int64_t w, const std::string& script) {
    auto r = Exec(w, script);
    EXPECT_EQ(r.kind(), "worker_exec_result") << Describe(r.env);
    EXPECT_TRUE(IsOk(r.payload())) << Describe(r.env);
    return AsBin(Get(ValueOf(r.payload()), "stdout"));
  }

  std::int64_t RunAsync(std::int64_t w, const std::string& script) {
    auto r =
        agent_.Call("worker_run_async", Obj({{"handle", Int(w)}, {"args", ShellExec(script)}}));
    EXPECT_EQ(r.kind(), "worker_run_async_result") << Describe(r.env);
    EXPECT_TRUE(IsOk(r.payload())) << Describe(r.env);
    return AsInt(ValueOf(r.payload()));
  }

  Value Syscall(std::int64_t w, long nr, std::vector<std::int64_t> args) {
    proto::Array a;
    for (auto x : args) a.push_back(Int(x));
    auto r = agent_.Call(
        "worker_syscall",
        Obj({{"handle", Int(w)}, {"args", Obj({{"nr", Int(nr)}, {"args", Value{a}}})}}));
    EXPECT_EQ(r.kind(), "worker_syscall_result") << Describe(r.env);
    return r.payload();
  }

  std::int64_t Join(std::int64_t w) {
    auto r = agent_.Call("worker_join", Obj({{"handle", Int(w)}}));
    EXPECT_EQ(r.kind(), "worker_join_result") << Describe(r.env);
    EXPECT_TRUE(IsOk(r.payload())) << Describe(r.env);
    return AsInt(Get(ValueOf(r.payload()), "exit_status"));
  }

  void ExpectUnknownHandle(const Reply& r) {
    EXPECT_EQ(r.kind(), "agent_error") << Describe(r.env);
    EXPECT_EQ(AsStr(Get(r.payload(), "kind")), "unknown_handle") << Describe(r.env);
  }

  AgentHarness agent_;
};

TEST_F(AgentWorkerTest, ExecRunsInASeparateWorkerProcess) {
  std::int64_t w = Spawn();
  std::string worker_pid = ExecOut(w, "echo $PPID");
  ASSERT_FALSE(worker_pid.empty());
  EXPECT_NE(std::stoi(worker_pid), agent_.agent_pid());
  // The worker is the main agent's child.
  std::string stat = ReadHostFile("/proc/" + std::to_string(std::stoi(worker_pid)) + "/stat");
  auto after = stat.substr(stat.rfind(')') + 2);  // "S <ppid> ..."
  EXPECT_EQ(std::stoi(after.substr(2)), agent_.agent_pid()) << stat;
  EXPECT_EQ(ExecOut(w, "printf hi; exit 0"), "hi");
  auto r = Exec(w, "echo out; echo err >&2; exit 4");
  EXPECT_EQ(AsInt(Get(Get(ValueOf(r.payload()), "status"), "value")), 4);
  EXPECT_EQ(AsBin(Get(ValueOf(r.payload()), "stderr")), "err\n");
  EXPECT_EQ(Join(w), 0);
}

TEST_F(AgentWorkerTest, LoweredUidGetsEpermOnARootOnlyOp) {
  std::int64_t w = Spawn(Obj({{"uid", Int(65534)}, {"gid", Int(65534)}}));
  EXPECT_EQ(ExecOut(w, "id -u; id -g; id -G"), "65534\n65534\n65534\n");
  Value r = Syscall(w, SYS_setuid, {0});
  EXPECT_EQ(AsInt(Get(r, "ret")), -1) << Describe(r);
  EXPECT_EQ(AsInt(Get(r, "errno")), EPERM) << Describe(r);
  // The main agent keeps its credentials.
  auto main = agent_.Call("exec", ShellExec("id -u"));
  EXPECT_EQ(AsBin(Get(ValueOf(main.payload()), "stdout")), "0\n");
  Join(w);
}

TEST_F(AgentWorkerTest, CapabilitiesAreDroppedOrKept) {
  std::int64_t none = Spawn(Obj({{"caps", Arr({})}}));
  EXPECT_EQ(ExecOut(none, "id -u; grep CapEff /proc/self/status"),
            "0\nCapEff:\t0000000000000000\n");
  Value r = Syscall(none, SYS_setuid, {12345});
  EXPECT_EQ(AsInt(Get(r, "errno")), EPERM) << Describe(r);
  // Kept capabilities survive the uid change and reach exec'd children (ambient).
  std::int64_t raw = Spawn(Obj({{"uid", Int(65534)}, {"caps", Arr({"net_raw", "CAP_CHOWN"})}}));
  EXPECT_EQ(ExecOut(raw, "grep CapEff /proc/self/status"), "CapEff:\t0000000000002001\n");
  Join(none);
  Join(raw);
}

TEST_F(AgentWorkerTest, BadOptionsAreBadRequests) {
  for (Value opts :
       {Obj({{"bogus", Int(1)}}), Obj({{"caps", Arr({"cap_nope"})}}), Obj({{"uid", "root"}}),
        Obj({{"thread", Value{true}}}), Obj({{"groups", Int(3)}}),
        Obj({{"groups", Value{proto::Array(5000, Int(1))}}})}) {
    auto r = agent_.Call("spawn_worker", opts);
    EXPECT_EQ(r.kind(), "agent_error") << Describe(r.env);
    EXPECT_EQ(AsStr(Get(r.payload(), "kind")), "bad_request") << Describe(r.env);
  }
}

TEST_F(AgentWorkerTest, RunAsyncIsRelayedWithStreams) {
  std::int64_t w = Spawn(Obj({{"uid", Int(65534)}}));
  std::int64_t h = RunAsync(w, "echo a; sleep 0.2; echo b; id -u >&2");
  ASSERT_GT(h, 0);
  auto pid = agent_.Call("get_pid", Obj({{"handle", Int(h)}}));
  EXPECT_TRUE(IsOk(pid.payload())) << Describe(pid.env);
  EXPECT_GT(AsInt(ValueOf(pid.payload())), 1);
  std::int64_t sid =
      agent_.Request("proc_stream", Obj({{"handle", Int(h)}, {"channel", "stdout"}}));
  auto ack = agent_.NextFor(sid);
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->kind, "proc_stream_result") << Describe(*ack);
  EXPECT_TRUE(IsOk(ack->payload)) << Describe(*ack);
  std::string streamed;
  auto end = agent_.WaitFor(
      sid,
      [&](const Envelope& e) {
        if (e.kind == "stream_frame") streamed += AsBin(Get(e.payload, "data"));
        return e.kind == "stream_end";
      },
      kDefaultTimeout);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(AsStr(Get(end->payload, "reason")), "eof");
  EXPECT_EQ(streamed, "a\nb\n");
  auto r = agent_.Call("wait", Obj({{"handle", Int(h)}}));
  ASSERT_TRUE(IsOk(r.payload())) << Describe(r.env);
  EXPECT_EQ(AsBin(Get(ValueOf(r.payload()), "stdout")), "a\nb\n");
  EXPECT_EQ(AsBin(Get(ValueOf(r.payload()), "stderr")), "65534\n");  // the worker's uid
  ExpectUnknownHandle(agent_.Call("wait", Obj({{"handle", Int(h)}})));

  std::int64_t cat = RunAsync(w, "cat");
  auto wr = agent_.Call("proc_stdin_write", Obj({{"handle", Int(cat)}, {"data", Bin("xyz")}}));
  EXPECT_EQ(AsInt(Get(ValueOf(wr.payload()), "written")), 3) << Describe(wr.env);
  EXPECT_EQ(AsStr(ValueOf(agent_.Call("proc_status", Obj({{"handle", Int(cat)}})).payload())),
            "running");
  EXPECT_TRUE(IsOk(agent_.Call("proc_stdin_close", Obj({{"handle", Int(cat)}})).payload()));
  r = agent_.Call("wait", Obj({{"handle", Int(cat)}}));
  EXPECT_EQ(AsBin(Get(ValueOf(r.payload()), "stdout")), "xyz");
  Join(w);
}

TEST_F(AgentWorkerTest, OpenFileIsRelayed) {
  TempDir dir;
  WriteHostFile(dir / "f", "hello world");
  std::int64_t w = Spawn();
  auto o = agent_.Call(
      "worker_open_file",
      Obj({{"handle", Int(w)}, {"args", Obj({{"path", Value{dir / "f"}}, {"mode", Int(3)}})}}));
  ASSERT_TRUE(IsOk(o.payload())) << Describe(o.env);
  std::int64_t f = AsInt(ValueOf(o.payload()));
  auto rd = agent_.Call("read", Obj({{"handle", Int(f)}, {"max_bytes", Int(5)}}));
  EXPECT_EQ(AsBin(Get(ValueOf(rd.payload()), "data")), "hello");
  auto sk = agent_.Call("seek", Obj({{"handle", Int(f)}, {"offset", Int(6)}, {"whence", "set"}}));
  EXPECT_EQ(AsInt(ValueOf(sk.payload())), 6);
  auto wr = agent_.Call("write", Obj({{"handle", Int(f)}, {"data", Bin("WORLD")}}));
  EXPECT_EQ(AsInt(Get(ValueOf(wr.payload()), "written")), 5);
  EXPECT_TRUE(IsOk(agent_.Call("close", Obj({{"handle", Int(f)}})).payload()));
  ExpectUnknownHandle(agent_.Call("close", Obj({{"handle", Int(f)}})));
  EXPECT_EQ(ReadHostFile(dir / "f"), "hello WORLD");

  // A worker with a lowered uid meets the file permissions of that uid.
  ::chmod((dir / "f").c_str(), 0600);
  ::chmod(dir.path().c_str(), 0755);
  std::int64_t nobody = Spawn(Obj({{"uid", Int(65534)}, {"gid", Int(65534)}}));
  o = agent_.Call("worker_open_file",
                  Obj({{"handle", Int(nobody)},
                       {"args", Obj({{"path", Value{dir / "f"}}, {"mode", Int(1)}})}}));
  EXPECT_EQ(ErrnoOf(o.payload()), EACCES) << Describe(o.env);
  Join(w);
  Join(nobody);
}

TEST_F(AgentWorkerTest, KillSignalsEveryAsyncChildAndCounts) {
  std::int64_t w = Spawn();
  std::int64_t a = RunAsync(w, "sleep 30"), b = RunAsync(w, "sleep 30");
  auto k = agent_.Call("worker_kill", Obj({{"handle", Int(w)}, {"signal", Int(SIGTERM)}}));
  ASSERT_TRUE(IsOk(k.payload())) << Describe(k.env);
  EXPECT_EQ(AsInt(ValueOf(k.payload())), 2);
  for (auto h : {a, b}) {
    auto r = agent_.Call("wait", Obj({{"handle", Int(h)}}));
    EXPECT_EQ(AsStr(Get(Get(ValueOf(r.payload()), "status"), "kind")), "signalled")
        << Describe(r.env);
  }
  k = agent_.Call("worker_kill", Obj({{"handle", Int(w)}, {"signal", Int(SIGTERM)}}));
  EXPECT_EQ(AsInt(ValueOf(k.payload())), 0) << Describe(k.env);
  EXPECT_EQ(Join(w), 128 + SIGTERM);
}

TEST_F(AgentWorkerTest, JoinWaitsAndReturnsTheWorstStatus) {
  std::int64_t w = Spawn();
  std::int64_t a = RunAsync(w, "exit 1");
  RunAsync(w, "sleep 0.3; exit 3");
  RunAsync(w, "true");
  agent_.Call("wait", Obj({{"handle", Int(a)}}));
  auto t0 = Clock::now();
  EXPECT_EQ(Join(w), 3);
  EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(100));
  ExpectUnknownHandle(Exec(w, "true"));
  ExpectUnknownHandle(agent_.Call("worker_join", Obj({{"handle", Int(w)}})));
  EXPECT_EQ(Join(Spawn()), 0);  // no children
}

TEST_F(AgentWorkerTest, UnknownHandles) {
  for (const char* kind : {"worker_exec", "worker_syscall", "worker_run_async", "worker_open_file",
                           "worker_kill", "worker_join", "worker_syscall_begin"}) {
    SCOPED_TRACE(kind);
    ExpectUnknownHandle(agent_.Call(kind, Obj({{"handle", Int(4242)},
                                               {"exec", ShellExec("true")},
                                               {"args", Obj({})},
                                               {"signal", Int(9)}})));
  }
  ExpectUnknownHandle(agent_.Call("worker_syscall_await", Obj({{"handle", Int(4242)}})));
}

TEST_F(AgentWorkerTest, SyscallAsyncBeginAndAwait) {
  std::int64_t w = Spawn();
  std::string worker_pid = ExecOut(w, "echo $PPID");
  auto b = agent_.Call(
      "worker_syscall_begin",
      Obj({{"handle", Int(w)}, {"args", Obj({{"nr", Int(SYS_getpid)}, {"args", Arr({})}})}}));
  ASSERT_TRUE(IsOk(b.payload())) << Describe(b.env);
  std::int64_t s = AsInt(ValueOf(b.payload()));
  auto r = agent_.Call("worker_syscall_await", Obj({{"handle", Int(s)}}));
  EXPECT_EQ(r.kind(), "worker_syscall_await_result") << Describe(r.env);
  EXPECT_EQ(std::to_string(AsInt(Get(r.payload(), "ret"))) + "\n", worker_pid);
  ExpectUnknownHandle(agent_.Call("worker_syscall_await", Obj({{"handle", Int(s)}})));
  Join(w);
}

TEST_F(AgentWorkerTest, RelayDoesNotBlockOtherRequests) {
  std::int64_t w = Spawn();
  std::int64_t slow = agent_.Request(
      "worker_exec", Obj({{"handle", Int(w)}, {"exec", ShellExec("sleep 1.5; echo slow")}}));
  auto t0 = Clock::now();
  EXPECT_EQ(ExecOut(w, "echo fast"), "fast\n");
  EXPECT_EQ(agent_.Call("ping").kind(), "pong");
  EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(1000));
  auto r = agent_.Await(slow);
  EXPECT_EQ(AsBin(Get(ValueOf(r.payload()), "stdout")), "slow\n") << Describe(r.env);
  // A cancelled relayed exec stops in the worker.
  std::int64_t c =
      agent_.Request("worker_exec", Obj({{"handle", Int(w)}, {"exec", ShellExec("sleep 30")}}));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  agent_.Send({agent_.NextId(), "cancel", Obj({{"target", Int(c)}})});
  r = agent_.Await(c, Millis(5000));
  EXPECT_EQ(ErrnoOf(r.payload()), ECANCELED) << Describe(r.env);
  Join(w);
}

TEST_F(AgentWorkerTest, DeadWorkerGivesClearErrorsAndIsFreedByJoin) {
  std::int64_t w = Spawn();
  int worker_pid = std::stoi(ExecOut(w, "echo $PPID"));
  std::int64_t h = RunAsync(w, "sleep 30");
  auto pid = agent_.Call("get_pid", Obj({{"handle", Int(h)}}));
  int child = static_cast<int>(AsInt(ValueOf(pid.payload())));
  ASSERT_EQ(::kill(worker_pid, SIGKILL), 0);
  if (child > 1) ::kill(-child, SIGKILL);
  auto deadline = Clock::now() + std::chrono::seconds(5);
  Reply r;
  do {
    r = Exec(w, "true");
  } while (IsOk(r.payload()) && Clock::now() < deadline);
  EXPECT_EQ(ErrnoOf(r.payload()), ESRCH) << Describe(r.env);
  std::string msg = AsStr(Get(ValueOf(r.payload()), "message"));
  EXPECT_NE(msg.find("is gone"), std::string::npos) << msg;
  EXPECT_NE(msg.find("signal 9"), std::string::npos) << msg;
  auto wr = agent_.Call("wait", Obj({{"handle", Int(h)}}));
  EXPECT_EQ(ErrnoOf(wr.payload()), ESRCH) << Describe(wr.env);
  auto sys = agent_.Call("worker_syscall",
                         Obj({{"handle", Int(w)}, {"args", Obj({{"nr", Int(SYS_getpid)}})}}));
  EXPECT_EQ(sys.kind(), "agent_error") << Describe(sys.env);  // a plain shape: envelope error
  EXPECT_NE(AsStr(Get(sys.payload(), "message")).find("is gone"), std::string::npos);
  auto j = agent_.Call("worker_join", Obj({{"handle", Int(w)}}));
  EXPECT_EQ(ErrnoOf(j.payload()), ESRCH) << Describe(j.env);
  ExpectUnknownHandle(Exec(w, "true"));
  ExpectUnknownHandle(agent_.Call("wait", Obj({{"handle", Int(h)}})));
  EXPECT_EQ(agent_.Call("ping").kind(), "pong");
  EXPECT_EQ(Join(Spawn()), 0);  // the agent still spawns workers
}

}  // namespace
}  // namespace provium::agent_test
