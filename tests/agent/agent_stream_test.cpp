// Streams and flow control (REFERENCE §6.7 tail_file/fd_stream/stream_close/stream_credit,
// §6.8): acknowledgement, frames <= 64 KiB, stream_end reasons, 4 MiB initial credit.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "agent_harness.hpp"

namespace provium::agent_test {
namespace {

using Clock = std::chrono::steady_clock;

void AppendHostFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << data;
}

class AgentStreamTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(agent_.ok()); }

  // Starts a stream op and checks its ok acknowledgement; returns the stream id.
  std::int64_t Open(const std::string& kind, Value payload) {
    std::int64_t id = agent_.Request(kind, std::move(payload));
    auto ack = agent_.NextFor(id);
    EXPECT_TRUE(ack.has_value()) << "no " << kind << "_result";
    if (ack) {
      EXPECT_EQ(ack->kind, kind + "_result") << Describe(*ack);
      EXPECT_TRUE(IsOk(ack->payload)) << Describe(*ack);
      EXPECT_TRUE(ValueOf(ack->payload).is_null()) << "a stream ack is OpResult<()>";
    }
    return id;
  }

  // Collects stream_frame data for `id` until `want` bytes arrived, a stream_end, or timeout.
  std::string Collect(std::int64_t id, size_t want, Millis timeout = Millis(5000),
                      std::optional<Envelope>* end = nullptr) {
    std::string data;
    auto deadline = Clock::now() + timeout;
    while (data.size() < want) {
      auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
      if (left.count() <= 0) break;
      auto e = agent_.NextFor(id, left);
      if (!e) break;
      if (e->kind == "stream_end") {
        if (end) *end = e;
        break;
      }
      EXPECT_EQ(e->kind, "stream_frame") << Describe(*e);
      EXPECT_TRUE(IsBin(Get(e->payload, "data")));
      std::string d = AsBin(Get(e->payload, "data"));
      EXPECT_LE(d.size(), proto::kStreamChunkBytes) << "stream_frame over 64 KiB";
      data += d;
    }
    return data;
  }

  std::optional<Envelope> CloseAndAwaitEnd(std::int64_t id) {
    agent_.Request("stream_close", Obj({{"target", Int(id)}}));
    return agent_.WaitFor(
        id, [](const Envelope& e) { return e.kind == "stream_end"; }, Millis(5000));
  }

  AgentHarness agent_;
  TempDir dir_;
};

Value TailStart(const char* kind, std::optional<std::int64_t> value = std::nullopt) {
  Value v = Obj({{"kind", Value{kind}}});
  if (value) v = With(v, "value", Int(*value));
  return v;
}

TEST_F(AgentStreamTest, TailFromBeginningFollowsAppendsAndCloses) {
  std::string path = dir_ / "log";
  WriteHostFile(path, "abc");
  std::int64_t id =
      Open("tail_file", Obj({{"path", Value{path}}, {"start", TailStart("beginning")}}));
  EXPECT_EQ(Collect(id, 3), "abc");
  AppendHostFile(path, "def");
  EXPECT_EQ(Collect(id, 3), "def");
  std::this_thread::sleep_for(Millis(100));
  AppendHostFile(path, "ghi\n");
  EXPECT_EQ(Collect(id, 4), "ghi\n");
  auto end = CloseAndAwaitEnd(id);
  ASSERT_TRUE(end.has_value()) << "stream_close produced no stream_end";
  EXPECT_EQ(AsStr(Get(end->payload, "reason")), "closed");
  AppendHostFile(path, "after");
  auto stray = agent_.NextFor(id, Millis(300));
  EXPECT_FALSE(stray.has_value()) << "frame after stream_end: " << Describe(*stray);
}

TEST_F(AgentStreamTest, TailFromEndSkipsExistingBytes) {
  std::string path = dir_ / "log";
  WriteHostFile(path, "old\n");
  std::int64_t id = Open("tail_file", Obj({{"path", Value{path}}, {"start", TailStart("end")}}));
  std::this_thread::sleep_for(Millis(100));
  AppendHostFile(path, "new\n");
  EXPECT_EQ(Collect(id, 4), "new\n");
  CloseAndAwaitEnd(id);
}

TEST_F(AgentStreamTest, TailFromOffset) {
  std::string path = dir_ / "log";
  WriteHostFile(path, "abcdef");
  std::int64_t id =
      Open("tail_file", Obj({{"path", Value{path}}, {"start", TailStart("offset", 2)}}));
  EXPECT_EQ(Collect(id, 4), "cdef");
  AppendHostFile(path, "g");
  EXPECT_EQ(Collect(id, 1), "g");
  CloseAndAwaitEnd(id);
}

TEST_F(AgentStreamTest, TailMissingFileIsAnOsErrorWithoutFrames) {
  std::int64_t id = agent_.Request(
      "tail_file", Obj({{"path", Value{dir_ / "nope"}}, {"start", TailStart("end")}}));
  auto ack = agent_.NextFor(id);
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->kind, "tail_file_result");
  EXPECT_EQ(ErrnoOf(ack->payload), ENOENT) << Describe(*ack);
  EXPECT_FALSE(agent_.NextFor(id, Millis(200)).has_value());
}

TEST_F(AgentStreamTest, TailBadStartIsBadRequest) {
  std::string path = dir_ / "log";
  WriteHostFile(path, "x");
  auto r = agent_.Call("tail_file", Obj({{"path", Value{path}}, {"start", TailStart("middle")}}));
  EXPECT_EQ(r.kind(), "agent_error") << Describe(r.env);
  EXPECT_EQ(AsStr(Get(r.payload(), "kind")), "bad_request");
}

TEST_F(AgentStreamTest, FramesAreAtMost64KiBAndCarryEveryByte) {
  std::string path = dir_ / "big";
  std::string data;
  for (int i = 0; data.size() < 300000; ++i) data += std::to_string(i) + ";";
  WriteHostFile(path, data);
  std::int64_t id =
      Open("tail_file", Obj({{"path", Value{path}}, {"start", TailStart("beginning")}}));
  std::string got = Collect(id, data.size(), Millis(10000));
  EXPECT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);
  CloseAndAwaitEnd(id);
}

TEST_F(AgentStreamTest, CreditStopsTheStreamAt4MiBAndResumesAfterCredit) {
  std::string path = dir_ / "huge";
  std::string data;
  data.reserve(6 << 20);
  for (int i = 0; data.size() < (6u << 20); ++i) data += std::to_string(i) + "\n";
  data.resize(6u << 20);
  WriteHostFile(path, data);
  std::int64_t id =
      Open("tail_file", Obj({{"path", Value{path}}, {"start", TailStart("beginning")}}));
  // Read until the agent goes quiet.
  std::string got;
  while (true) {
    auto e = agent_.NextFor(id, Millis(700));
    if (!e) break;
    ASSERT_EQ(e->kind, "stream_frame") << Describe(*e);
    got += AsBin(Get(e->payload, "data"));
  }
  EXPECT_LE(got.size(), proto::kInitialStreamCredit) << "more than the initial credit in flight";
  EXPECT_GE(got.size(), proto::kInitialStreamCredit - proto::kStreamChunkBytes)
      << "the stream stopped well before its credit ran out";
  EXPECT_LT(got.size(), data.size());
  agent_.Request("stream_credit", Obj({{"target", Int(id)}, {"bytes", Int(8 << 20)}}));
  got += Collect(id, data.size() - got.size(), Millis(10000));
  EXPECT_EQ(got.size(), data.size()) << "the stream did not resume after stream_credit";
  EXPECT_TRUE(got == data);
  CloseAndAwaitEnd(id);
}

TEST_F(AgentStreamTest, StreamCloseWhileBlockedOnCreditEndsTheStream) {
  std::string path = dir_ / "huge";
  WriteHostFile(path, std::string(5u << 20, 'z'));
  std::int64_t id =
      Open("tail_file", Obj({{"path", Value{path}}, {"start", TailStart("beginning")}}));
  Collect(id, proto::kInitialStreamCredit, Millis(10000));
  auto end = CloseAndAwaitEnd(id);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(AsStr(Get(end->payload, "reason")), "closed");
  EXPECT_EQ(agent_.Call("ping").kind(), "pong");
}

TEST_F(AgentStreamTest, FdStreamStartsAtTheHandleCursor) {
  std::string path = dir_ / "f";
  WriteHostFile(path, "0123456789");
  auto open = agent_.Call("open_file", Obj({{"path", Value{path}}, {"mode", Int(1)}}));
  ASSERT_TRUE(IsOk(open.payload())) << Describe(open.env);
  std::int64_t h = AsInt(ValueOf(open.payload()));
  agent_.Call("seek", Obj({{"handle", Int(h)}, {"offset", Int(4)}, {"whence", "set"}}));
  std::int64_t id = Open("fd_stream", Obj({{"handle", Int(h)}}));
  EXPECT_EQ(Collect(id, 6), "456789");
  AppendHostFile(path, "ab");
  EXPECT_EQ(Collect(id, 2), "ab");
  auto end = CloseAndAwaitEnd(id);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(AsStr(Get(end->payload, "reason")), "closed");
  agent_.Call("close", Obj({{"handle", Int(h)}}));
}

TEST_F(AgentStreamTest, DisconnectWithOpenStreamsExitsCleanly) {
  std::string path = dir_ / "log";
  WriteHostFile(path, std::string(5u << 20, 'y'));
  Open("tail_file", Obj({{"path", Value{path}}, {"start", TailStart("beginning")}}));
  Open("tail_file", Obj({{"path", Value{path}}, {"start", TailStart("end")}}));
  std::this_thread::sleep_for(Millis(200));
  agent_.CloseSocket();
  auto st = agent_.WaitExit(Millis(15000));
  ASSERT_TRUE(st.has_value()) << "agent hung after the host disconnected with open streams";
  EXPECT_TRUE(WIFEXITED(*st));
}

}  // namespace
}  // namespace provium::agent_test
