// Clock, syscall, ioctl, read_mem, cancellation and batches (REFERENCE §6.5, §6.7).
#include <gtest/gtest.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "agent_harness.hpp"

namespace provium::agent_test {
namespace {

using Clock = std::chrono::steady_clock;

class AgentMiscTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(agent_.ok()); }
  AgentHarness agent_;
};

std::int64_t RealtimeNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Le64(std::uint64_t x) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((x >> (8 * i)) & 0xff);
  return s;
}

TEST_F(AgentMiscTest, GetTimeIsRealtimeNanoseconds) {
  std::int64_t before = RealtimeNs();
  auto r = agent_.Call("get_time", Obj({}));
  std::int64_t after = RealtimeNs();
  EXPECT_EQ(r.kind(), "get_time_result");
  ASSERT_TRUE(IsOk(r.payload())) << Describe(r.env);
  std::int64_t ns = AsInt(Get(ValueOf(r.payload()), "ns"));
  EXPECT_GE(ns, before - 1'000'000'000);
  EXPECT_LE(ns, after + 1'000'000'000);
}

TEST_F(AgentMiscTest, SetTimeAndAdvanceClockReplyOpResults) {
  // Only a no-op change is attempted (the tests may run as root on a shared host).
  auto now = agent_.Call("get_time", Obj({}));
  std::int64_t ns = AsInt(Get(ValueOf(now.payload()), "ns"));
  auto set = agent_.Call("set_time", Obj({{"ns", Int(ns)}}));
  EXPECT_EQ(set.kind(), "set_time_result") << Describe(set.env);
  EXPECT_TRUE(IsOk(set.payload()) || ErrnoOf(set.payload()) == EPERM) << Describe(set.env);
  auto adv = agent_.Call("advance_clock", Obj({{"ns", Int(0)}}));
  EXPECT_EQ(adv.kind(), "advance_clock_result") << Describe(adv.env);
  EXPECT_TRUE(IsOk(adv.payload()) || ErrnoOf(adv.payload()) == EPERM) << Describe(adv.env);
  auto bad = agent_.Call("set_time", Obj({{"ns", "noon"}}));
  EXPECT_EQ(bad.kind(), "agent_error");
  EXPECT_EQ(AsStr(Get(bad.payload(), "kind")), "bad_request");
}

TEST_F(AgentMiscTest, SleepClockSleeps) {
  auto start = Clock::now();
  auto r = agent_.Call("sleep_clock", Obj({{"ns", Int(300'000'000)}}));
  auto elapsed = Clock::now() - start;
  EXPECT_EQ(r.kind(), "sleep_clock_result");
  EXPECT_TRUE(IsOk(r.payload())) << Describe(r.env);
  EXPECT_TRUE(ValueOf(r.payload()).is_null());
  EXPECT_GE(elapsed, Millis(280));
  EXPECT_LT(elapsed, Millis(3000));
}

TEST_F(AgentMiscTest, CancelSleepClockRepliesEcanceled) {
  std::int64_t id = agent_.Request("sleep_clock", Obj({{"ns", Int(30'000'000'000)}}));
  std::this_thread::sleep_for(Millis(100));
  auto start = Clock::now();
  std::int64_t cancel_id = agent_.Request("cancel", Obj({{"target", Int(id)}}));
  auto r = agent_.Await(id, Millis(5000));
  EXPECT_LT(Clock::now() - start, Millis(2000));
  EXPECT_EQ(r.kind(), "sleep_clock_result") << Describe(r.env);
  EXPECT_EQ(ErrnoOf(r.payload()), ECANCELED);
  EXPECT_FALSE(agent_.NextFor(cancel_id, Millis(100)).has_value()) << "cancel has no reply";
}

TEST_F(AgentMiscTest, SyscallGetpid) {
  auto r = agent_.Call("syscall", Obj({{"nr", Int(39)}, {"args", Arr({0, 0, 0, 0, 0, 0})}}));
  EXPECT_EQ(r.kind(), "syscall_result") << Describe(r.env);
  EXPECT_FALSE(Has(r.payload(), "outcome")) << "syscall_result is plain, not an OpResult";
  EXPECT_EQ(AsInt(Get(r.payload(), "ret")), agent_.agent_pid());
  EXPECT_EQ(AsInt(Get(r.payload(), "errno")), 0);
  EXPECT_FALSE(Has(r.payload(), "out_bufs")) << "out_bufs is omitted when empty";
}

TEST_F(AgentMiscTest, SyscallErrorCarriesErrno) {
  auto r = agent_.Call("syscall", Obj({{"nr", Int(3)}, {"args", Arr({-1, 0, 0, 0, 0, 0})}}));
  EXPECT_EQ(AsInt(Get(r.payload(), "ret")), -1) << Describe(r.env);
  EXPECT_EQ(AsInt(Get(r.payload(), "errno")), EBADF);
}

TEST_F(AgentMiscTest, SyscallUnameFillsABuffer) {
  auto r = agent_.Call("syscall", Obj({{"nr", Int(63)},
                                       {"args", Arr({0, 0, 0, 0, 0, 0})},
                                       {"bufs", Arr({Bin(std::string(390, '\0'))})},
                                       {"ptrs", Arr({0})}}));
  EXPECT_EQ(r.kind(), "syscall_result") << Describe(r.env);
  EXPECT_EQ(AsInt(Get(r.payload(), "ret")), 0);
  auto out = Get(r.payload(), "out_bufs").as_array();
  ASSERT_NE(out, nullptr) << Describe(r.env);
  ASSERT_EQ(out->size(), 1u);
  ASSERT_TRUE(IsBin((*out)[0]));
  std::string buf = AsBin((*out)[0]);
  EXPECT_EQ(buf.size(), 390u);
  EXPECT_EQ(buf.substr(0, 6), std::string("Linux\0", 6));
}

TEST_F(AgentMiscTest, SyscallPointerAndNestedSplicing) {
  TempDir dir;
  std::string path = dir / "out";
  auto open = agent_.Call("syscall", Obj({{"nr", Int(257)},
                                          {"args", Arr({-100, 0, 01 | 0100 | 01000, 0644, 0, 0})},
                                          {"bufs", Arr({Bin(path + std::string(1, '\0'))})},
                                          {"ptrs", Arr({1})}}));
  std::int64_t fd = AsInt(Get(open.payload(), "ret"));
  ASSERT_GE(fd, 0) << Describe(open.env);
  // writev(fd, iov, 1): iov's base pointer is spliced in from bufs[1] (nested), iov itself goes
  // into argument slot 1.
  std::string iov = Le64(0) + Le64(5);
  auto w = agent_.Call("syscall",
                       Obj({{"nr", Int(20)},
                            {"args", Arr({Value{fd}, 0, 1, 0, 0, 0})},
                            {"bufs", Arr({Bin(iov), Bin("hello")})},
                            {"ptrs", Arr({1})},
                            {"nested", Arr({Obj({{"parent", 0}, {"child", 1}, {"offset", 0}})})}}));
  EXPECT_EQ(AsInt(Get(w.payload(), "ret")), 5) << Describe(w.env);
  auto c = agent_.Call("syscall", Obj({{"nr", Int(3)}, {"args", Arr({Value{fd}, 0, 0, 0, 0, 0})}}));
  EXPECT_EQ(AsInt(Get(c.payload(), "ret")), 0);
  EXPECT_EQ(ReadHostFile(path), "hello");
}

TEST_F(AgentMiscTest, SyscallBadPtrSlotIsBadRequest) {
  auto r = agent_.Call("syscall", Obj({{"nr", Int(39)},
                                       {"args", Arr({0, 0, 0, 0, 0, 0})},
                                       {"bufs", Arr({Bin("x")})},
                                       {"ptrs", Arr({6})}}));
  EXPECT_EQ(r.kind(), "agent_error") << Describe(r.env);
  EXPECT_EQ(AsStr(Get(r.payload(), "kind")), "bad_request");
}

TEST_F(AgentMiscTest, IoctlFionreadOnAFile) {
  TempDir dir;
  WriteHostFile(dir / "f", "0123456789");
  auto open = agent_.Call("open_file", Obj({{"path", Value{dir / "f"}}, {"mode", Int(1)}}));
  std::int64_t h = AsInt(ValueOf(open.payload()));
  auto r = agent_.Call(
      "ioctl",
      Obj({{"handle", Int(h)}, {"cmd", Int(FIONREAD)}, {"data", Bin(std::string(4, '\0'))}}));
  EXPECT_EQ(r.kind(), "ioctl_result") << Describe(r.env);
  ASSERT_TRUE(IsOk(r.payload())) << Describe(r.env);
  EXPECT_EQ(AsInt(Get(ValueOf(r.payload()), "ret")), 0);
  std::string out = AsBin(Get(ValueOf(r.payload()), "out_data"));
  ASSERT_EQ(out.size(), 4u);
  int n = 0;
  std::memcpy(&n, out.data(), 4);
  EXPECT_EQ(n, 10);
  auto bad = agent_.Call(
      "ioctl",
      Obj({{"handle", Int(h)}, {"cmd", Int(0x1234abcd)}, {"data", Bin(std::string(4, '\0'))}}));
  EXPECT_EQ(AsStr(Get(bad.payload(), "outcome")), "err") << Describe(bad.env);
  agent_.Call("close", Obj({{"handle", Int(h)}}));
}

TEST_F(AgentMiscTest, ReadMemAtAddressZeroIsAnErrorNotACrash) {
  auto r = agent_.Call("read_mem", Obj({{"addr", Int(0)}, {"len", Int(16)}}));
  EXPECT_EQ(r.kind(), "read_mem_result") << Describe(r.env);
  std::int64_t err = ErrnoOf(r.payload());
  EXPECT_TRUE(err == EIO || err == EFAULT) << Describe(r.env);
  EXPECT_EQ(agent_.Call("ping").kind(), "pong") << "agent died on read_mem";
}

TEST_F(AgentMiscTest, ReadMemReadsTheAgentsOwnElfHeader) {
  std::ifstream maps("/proc/" + std::to_string(agent_.agent_pid()) + "/maps");
  std::string line;
  std::uint64_t addr = 0;
  while (std::getline(maps, line)) {
    std::istringstream ls(line);
    std::string range, perms, offset, dev, inode, path;
    ls >> range >> perms >> offset >> dev >> inode >> path;
    if (perms[0] == 'r' && std::stoull(offset, nullptr, 16) == 0 &&
        path.find("provium-agent") != std::string::npos) {
      addr = std::stoull(range.substr(0, range.find('-')), nullptr, 16);
      break;
    }
  }
  ASSERT_NE(addr, 0u) << "agent binary mapping not found";
  auto r = agent_.Call("read_mem",
                       Obj({{"addr", Int(static_cast<std::int64_t>(addr))}, {"len", Int(4)}}));
  ASSERT_TRUE(IsOk(r.payload())) << Describe(r.env);
  EXPECT_EQ(AsBin(Get(ValueOf(r.payload()), "bytes")),
            "\x7f"
            "ELF");
}

TEST_F(AgentMiscTest, BatchRunsItemsInOrderAndReportsPerIndex) {
  TempDir dir;
  std::string path = dir / "batch";
  auto item = [](const char* kind, Value payload) {
    return Obj({{"kind", Value{kind}}, {"payload", std::move(payload)}});
  };
  Value items = Arr({
      item("write_file", Obj({{"path", Value{path}}, {"data", Bin("first")}})),
      item("read_file", Obj({{"path", Value{path}}})),
      item("read_file", Obj({{"path", Value{dir / "missing"}}})),
      item("write_file",
           Obj({{"path", Value{path}}, {"data", Bin("+second")}, {"mode", "append"}})),
      item("tail_file", Obj({{"path", Value{path}}, {"start", Obj({{"kind", "end"}})}})),
      item("hello", Obj({{"protocol_version", 2}})),
      item("batch_op", Obj({{"items", Arr({})}})),
      item("no_such_op", Obj({})),
      item("read_file", Obj({})),
      item("exec", ShellExec("printf ok")),
  });
  auto r = agent_.Call("batch_op", Obj({{"items", items}}));
  EXPECT_EQ(r.kind(), "batch_op_result") << Describe(r.env);
  auto resp = Get(r.payload(), "responses").as_array();
  ASSERT_NE(resp, nullptr) << Describe(r.env);
  ASSERT_EQ(resp->size(), 10u) << Describe(r.env);
  auto kind = [&](size_t i) { return AsStr(Get((*resp)[i], "kind")); };
  auto payload = [&](size_t i) -> const Value& { return Get((*resp)[i], "payload"); };
  EXPECT_EQ(kind(0), "write_file_result");
  EXPECT_TRUE(IsOk(payload(0)));
  EXPECT_EQ(kind(1), "read_file_result");
  EXPECT_EQ(AsBin(Get(ValueOf(payload(1)), "data")), "first") << "items must run in order";
  EXPECT_EQ(kind(2), "read_file_result");
  EXPECT_EQ(ErrnoOf(payload(2)), ENOENT);
  EXPECT_EQ(kind(3), "write_file_result");
  EXPECT_TRUE(IsOk(payload(3))) << "a failing item must not stop later ones";
  EXPECT_EQ(ReadHostFile(path), "first+second");
  for (size_t i : {4, 5, 6}) {
    EXPECT_EQ(kind(i), "agent_error") << i << ": " << Describe((*resp)[i]);
    EXPECT_EQ(AsStr(Get(payload(i), "kind")), "bad_request") << i;
  }
  EXPECT_EQ(kind(7), "agent_error");
  EXPECT_EQ(AsStr(Get(payload(7), "kind")), "unsupported");
  EXPECT_EQ(kind(8), "agent_error");
  EXPECT_EQ(AsStr(Get(payload(8), "kind")), "bad_request");
  EXPECT_EQ(kind(9), "exec_result");
  EXPECT_EQ(AsBin(Get(ValueOf(payload(9)), "stdout")), "ok");
  EXPECT_TRUE(r.extras.empty()) << "a batch sends no side frames";
}

TEST_F(AgentMiscTest, BatchExecLegacy) {
  auto r = agent_.Call("batch_exec",
                       Obj({{"items", Arr({ShellExec("printf a"), ShellExec("exit 2")})}}));
  EXPECT_EQ(r.kind(), "batch_exec_result") << Describe(r.env);
  auto results = Get(r.payload(), "results").as_array();
  ASSERT_NE(results, nullptr) << Describe(r.env);
  ASSERT_EQ(results->size(), 2u);
  EXPECT_EQ(AsBin(Get(ValueOf((*results)[0]), "stdout")), "a");
  EXPECT_EQ(AsInt(Get(Get(ValueOf((*results)[1]), "status"), "value")), 2);
}

}  // namespace
}  // namespace provium::agent_test
