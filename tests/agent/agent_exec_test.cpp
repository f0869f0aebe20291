// exec (REFERENCE §6.6 ExecArgs/ExecOk/ExitStatus, §6.7 exec, §5.4-5.5): shell and argv forms,
// environment, cwd, stdin, exit statuses, timeouts, launch failures and chunked output.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "agent_harness.hpp"

namespace provium::agent_test {
namespace {

using Clock = std::chrono::steady_clock;

class AgentExecTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(agent_.ok()); }

  // Runs exec and checks it is an ok exec_result; returns ExecOk.
  Value RunOk(Value args, Millis timeout = kDefaultTimeout) {
    last_ = agent_.Call("exec", std::move(args), timeout);
    EXPECT_FALSE(last_.timed_out) << "no exec reply";
    EXPECT_EQ(last_.kind(), "exec_result") << Describe(last_.env);
    EXPECT_TRUE(IsOk(last_.payload())) << Describe(last_.env);
    return ValueOf(last_.payload());
  }

  AgentHarness agent_;
  Reply last_;
};

std::string StatusKind(const Value& ok) { return AsStr(Get(Get(ok, "status"), "kind")); }
const Value& StatusValue(const Value& ok) { return Get(Get(ok, "status"), "value"); }

// A process is gone when it no longer exists or is a zombie awaiting its (new) parent.
bool ProcessGone(pid_t pid) {
  if (::kill(pid, 0) != 0) return true;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

bool WaitGone(pid_t pid, Millis timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (ProcessGone(pid)) return true;
    std::this_thread::sleep_for(Millis(20));
  }
  return ProcessGone(pid);
}

TEST_F(AgentExecTest, ShellFormSeparatesStdoutStderrAndExitCode) {
  Value ok = RunOk(ShellExec("echo out; echo err >&2; exit 3"));
  EXPECT_EQ(StatusKind(ok), "exited");
  EXPECT_EQ(AsInt(StatusValue(ok)), 3);
  ASSERT_TRUE(IsBin(Get(ok, "stdout"))) << "stdout must travel as bin";
  ASSERT_TRUE(IsBin(Get(ok, "stderr"))) << "stderr must travel as bin";
  EXPECT_EQ(AsBin(Get(ok, "stdout")), "out\n");
  EXPECT_EQ(AsBin(Get(ok, "stderr")), "err\n");
}

TEST_F(AgentExecTest, ArgvFormDoesNotUseAShell) {
  Value ok = RunOk(ArgvExec("printf", {"%s|%s", "a b;$HOME", "c"}));
  EXPECT_EQ(StatusKind(ok), "exited");
  EXPECT_EQ(AsInt(StatusValue(ok)), 0);
  EXPECT_EQ(AsBin(Get(ok, "stdout")), "a b;$HOME|c");
  Value abs = RunOk(ArgvExec("/bin/echo", {"x"}));
  EXPECT_EQ(AsBin(Get(abs, "stdout")), "x\n");
}

TEST_F(AgentExecTest, OutputIsBinarySafe) {
  Value ok = RunOk(ShellExec("printf 'a\\000b\\377'"));
  EXPECT_EQ(AsBin(Get(ok, "stdout")), std::string("a\0b\xff", 4));
}

TEST(AgentExecEnvTest, EnvMergesOverTheAgentEnvironment) {
  ::setenv("PROVIUM_AGENT_TEST_INHERITED", "inherited", 1);
  ::setenv("PROVIUM_AGENT_TEST_OVERRIDE", "old", 1);
  AgentHarness agent;
  ::unsetenv("PROVIUM_AGENT_TEST_INHERITED");
  ::unsetenv("PROVIUM_AGENT_TEST_OVERRIDE");
  ASSERT_TRUE(agent.ok());
  auto r = agent.Call("exec",
                      With(ShellExec("echo \"$PROVIUM_AGENT_TEST_INHERITED "
                                     "$PROVIUM_AGENT_TEST_OVERRIDE $EXTRA\"; test -n \"$PATH\""),
                           "env", Obj({{"PROVIUM_AGENT_TEST_OVERRIDE", "new"}, {"EXTRA", "x=y"}})));
  ASSERT_TRUE(IsOk(r.payload())) << Describe(r.env);
  EXPECT_EQ(AsBin(Get(ValueOf(r.payload()), "stdout")), "inherited new x=y\n");
  EXPECT_EQ(AsInt(StatusValue(ValueOf(r.payload()))), 0) << "PATH missing from the environment";
}

TEST_F(AgentExecTest, EnvClearStartsFromAnEmptyEnvironment) {
  Value args = ArgvExec("/usr/bin/env", {});
  args = With(args, "env_clear", Value{true});
  args = With(args, "env", Obj({{"ONLY", "1"}}));
  Value ok = RunOk(args);
  EXPECT_EQ(AsBin(Get(ok, "stdout")), "ONLY=1\n");
}

TEST_F(AgentExecTest, CwdDefaultsToRootAndCanBeSet) {
  Value root = RunOk(ShellExec("pwd"));
  EXPECT_EQ(AsBin(Get(root, "stdout")), "/\n");
  TempDir dir;
  Value there = RunOk(With(ArgvExec("/bin/pwd", {}), "cwd", Value{dir.path()}));
  EXPECT_EQ(AsBin(Get(there, "stdout")), dir.path() + "\n");
}

TEST_F(AgentExecTest, MissingCwdIsAnOsError) {
  auto r = agent_.Call("exec", With(ShellExec("true"), "cwd", "/nonexistent/provium-cwd"));
  EXPECT_EQ(r.kind(), "exec_result");
  EXPECT_EQ(ErrnoOf(r.payload()), ENOENT) << Describe(r.env);
}

TEST_F(AgentExecTest, StdinBytesAreWrittenThenClosed) {
  std::string data("line1\n\0\xffline2", 13);
  Value ok = RunOk(With(ArgvExec("cat", {}), "stdin", Bin(data)));
  EXPECT_EQ(AsBin(Get(ok, "stdout")), data);
  // Without stdin the child sees EOF at once instead of blocking.
  Value empty = RunOk(ArgvExec("cat", {}), Millis(5000));
  EXPECT_EQ(AsBin(Get(empty, "stdout")), "");
}

TEST_F(AgentExecTest, LargeStdinDoesNotDeadlockWithLargeOutput) {
  std::string data(3 << 20, 'q');
  Value ok = RunOk(With(ArgvExec("cat", {}), "stdin", Bin(data)), Millis(20000));
  std::string out;
  for (auto& e : last_.extras)
    if (e.kind == "exec_output") out += AsBin(Get(e.payload, "data"));
  out += AsBin(Get(ok, "stdout"));
  EXPECT_EQ(out.size(), data.size());
  EXPECT_TRUE(out == data);
}

TEST_F(AgentExecTest, SignalledStatus) {
  Value ok = RunOk(ShellExec("kill -TERM $$; sleep 5"));
  EXPECT_EQ(StatusKind(ok), "signalled");
  EXPECT_EQ(AsInt(StatusValue(ok)), SIGTERM);
}

TEST_F(AgentExecTest, TimeoutKillsTheWholeProcessGroup) {
  TempDir dir;
  std::string pidfile = dir / "bg.pid";
  auto start = Clock::now();
  Value ok = RunOk(With(ShellExec("sleep 30 & echo $! > " + pidfile + "; echo before; sleep 30"),
                        "timeout_ms", Int(300)));
  auto elapsed = Clock::now() - start;
  EXPECT_EQ(StatusKind(ok), "timed_out");
  EXPECT_TRUE(StatusValue(ok).is_null()) << Describe(ok);
  EXPECT_EQ(AsBin(Get(ok, "stdout")), "before\n") << "partial output must be kept on timeout";
  EXPECT_LT(elapsed, std::chrono::seconds(5));
  EXPECT_GE(elapsed, Millis(250));
  pid_t bg = static_cast<pid_t>(std::atoi(ReadHostFile(pidfile).c_str()));
  ASSERT_GT(bg, 0);
  bool gone = WaitGone(bg, Millis(3000));
  if (!gone) ::kill(bg, SIGKILL);
  EXPECT_TRUE(gone) << "the backgrounded grandchild survived the timeout";
}

TEST_F(AgentExecTest, MissingBinaryIsEnoent) {
  auto r = agent_.Call("exec", ArgvExec("/nonexistent/provium-no-such-binary", {}));
  EXPECT_EQ(r.kind(), "exec_result");
  EXPECT_EQ(AsStr(Get(r.payload(), "outcome")), "err") << Describe(r.env);
  EXPECT_EQ(ErrnoOf(r.payload()), ENOENT);
  EXPECT_NE(Get(ValueOf(r.payload()), "message").as_string(), nullptr);
  auto r2 = agent_.Call("exec", ArgvExec("provium-no-such-binary-on-path", {}));
  EXPECT_EQ(ErrnoOf(r2.payload()), ENOENT) << Describe(r2.env);
}

TEST_F(AgentExecTest, NonExecutableFileIsEacces) {
  TempDir dir;
  WriteHostFile(dir / "script", "#!/bin/sh\necho hi\n");
  auto r = agent_.Call("exec", ArgvExec(dir / "script", {}));
  EXPECT_EQ(ErrnoOf(r.payload()), EACCES) << Describe(r.env);
}

std::string Seq(int n) {
  std::string s;
  for (int i = 1; i <= n; ++i) s += std::to_string(i) + "\n";
  return s;
}

TEST_F(AgentExecTest, LargeStdoutArrivesAsChunksPlusRemainder) {
  const int n = 400000;  // ~2.7 MB
  std::string expected = Seq(n);
  Value ok = RunOk(ShellExec("seq 1 " + std::to_string(n)), Millis(30000));
  std::string got;
  int chunks = 0;
  for (auto& e : last_.extras) {
    ASSERT_EQ(e.kind, "exec_output") << Describe(e);
    EXPECT_EQ(AsStr(Get(e.payload, "channel")), "stdout");
    ASSERT_TRUE(IsBin(Get(e.payload, "data")));
    std::string d = AsBin(Get(e.payload, "data"));
    EXPECT_LE(d.size(), proto::kExecOutputChunkBytes) << "exec_output frame over 1 MiB";
    EXPECT_FALSE(d.empty());
    got += d;
    ++chunks;
  }
  EXPECT_GE(chunks, 1) << "more than 1 MiB of output must use exec_output frames";
  got += AsBin(Get(ok, "stdout"));
  EXPECT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected) << "chunks + remainder differ from the produced bytes";
  EXPECT_EQ(AsBin(Get(ok, "stderr")), "");
}

TEST_F(AgentExecTest, LargeOutputOnBothChannelsInOddSizedWrites) {
  // 1000-byte writes never line up with the 1 MiB chunk boundary.
  Value ok = RunOk(ShellExec("dd if=/dev/zero bs=1000 count=2500 2>/dev/null; "
                             "dd if=/dev/zero bs=1000 count=1500 >&2 2>/dev/null; "
                             "head -c 1500000 /dev/zero >&2"),
                   Millis(30000));
  size_t out = 0, err = 0;
  for (auto& e : last_.extras) {
    ASSERT_EQ(e.kind, "exec_output");
    size_t n = AsBin(Get(e.payload, "data")).size();
    EXPECT_LE(n, proto::kExecOutputChunkBytes) << "exec_output frame over 1 MiB";
    (AsStr(Get(e.payload, "channel")) == "stdout" ? out : err) += n;
  }
  out += AsBin(Get(ok, "stdout")).size();
  err += AsBin(Get(ok, "stderr")).size();
  EXPECT_EQ(out, 2500000u);
  EXPECT_EQ(err, 3000000u);
}

TEST_F(AgentExecTest, CancelKillsTheProcessGroupAndRepliesEcanceled) {
  TempDir dir;
  std::string pidfile = dir / "pid";
  std::int64_t id = agent_.Request("exec", ShellExec("echo $$ > " + pidfile + "; sleep 30"));
  std::this_thread::sleep_for(Millis(300));
  agent_.Request("cancel", Obj({{"target", Int(id)}}));
  auto start = Clock::now();
  auto r = agent_.Await(id, Millis(5000));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(r.kind(), "exec_result");
  EXPECT_EQ(ErrnoOf(r.payload()), ECANCELED) << Describe(r.env);
  pid_t pid = static_cast<pid_t>(std::atoi(ReadHostFile(pidfile).c_str()));
  if (pid > 0) {
    EXPECT_TRUE(WaitGone(pid, Millis(2000)));
  }
}

TEST_F(AgentExecTest, StdinMayBeAStringOrBinButNotANumber) {
  auto r = agent_.Call("exec", With(ArgvExec("cat", {}), "stdin", Int(5)));
  EXPECT_EQ(r.kind(), "agent_error");
  EXPECT_EQ(AsStr(Get(r.payload(), "kind")), "bad_request");
}

TEST_F(AgentExecTest, ArgsMustBeStrings) {
  auto r = agent_.Call("exec", Obj({{"cmd", "/bin/echo"}, {"args", Arr({Int(1)})}}));
  EXPECT_EQ(r.kind(), "agent_error");
  EXPECT_EQ(AsStr(Get(r.payload(), "kind")), "bad_request");
  EXPECT_NE(AsStr(Get(r.payload(), "message")).find("args"), std::string::npos);
}

}  // namespace
}  // namespace provium::agent_test
