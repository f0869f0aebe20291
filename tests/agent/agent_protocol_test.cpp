// Handshake, sync-marker hunting, framing errors and envelope-level errors of the real agent
// (REFERENCE §6.2-6.5, §6.9).
#include <gtest/gtest.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include <string>

#include "agent_harness.hpp"

namespace provium::agent_test {
namespace {

std::string HelloFrame(std::int64_t version) {
  return proto::encode_envelope({0, "hello", Obj({{"protocol_version", Value{version}}})});
}

void ExpectCleanExit(AgentHarness& agent) {
  // Generous: exit latency has its own test (ExitsPromptlyAtEof); this one is about crashes.
  auto st = agent.WaitExit(Millis(15000));
  ASSERT_TRUE(st.has_value()) << "agent did not exit within 15 s";
  EXPECT_TRUE(WIFEXITED(*st)) << "agent died of signal " << (WIFSIGNALED(*st) ? WTERMSIG(*st) : 0);
  if (WIFEXITED(*st)) {
    EXPECT_EQ(WEXITSTATUS(*st), 0);
  }
}

TEST(AgentHandshakeTest, HelloOkCarriesVersionAndAgentInfo) {
  AgentHarness agent;
  ASSERT_TRUE(agent.ok());
  const Envelope& ok = agent.hello_ok();
  EXPECT_EQ(ok.id, 0);
  EXPECT_EQ(ok.kind, "hello_ok");
  EXPECT_EQ(AsInt(Get(ok.payload, "protocol_version")), proto::kProtocolVersion);
  const Value& info = Get(ok.payload, "agent");
  ASSERT_NE(info.as_map(), nullptr) << Describe(ok);
  EXPECT_EQ(AsStr(Get(info, "os")), "linux");
  EXPECT_NE(Get(info, "agent_version").as_string(), nullptr);
  struct utsname u {};
  ::uname(&u);
  EXPECT_EQ(AsStr(Get(info, "kernel")), u.release);
  auto caps = Get(info, "capabilities").as_array();
  ASSERT_NE(caps, nullptr) << Describe(ok);
  for (auto& c : *caps) EXPECT_NE(c.as_string(), nullptr) << Describe(c);
}

TEST(AgentHandshakeTest, MarkerPrecedesHelloOk) {
  AgentHarness agent(false);
  ASSERT_TRUE(agent.ok());
  ASSERT_TRUE(agent.SendRaw(std::string(proto::kSyncMarker) + HelloFrame(proto::kProtocolVersion)));
  auto marker = agent.RecvRaw(proto::kSyncMarker.size());
  ASSERT_TRUE(marker.has_value());
  EXPECT_EQ(*marker, proto::kSyncMarker);
  auto reply = agent.NextAny();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->kind, "hello_ok");
}

TEST(AgentHandshakeTest, VersionMismatchRepliesHelloErrAndCloses) {
  AgentHarness agent(false);
  ASSERT_TRUE(agent.ok());
  auto reply = agent.Handshake(1);
  ASSERT_TRUE(reply.has_value()) << "no reply to a hello with the wrong version";
  EXPECT_EQ(reply->id, 0);
  EXPECT_EQ(reply->kind, "hello_err") << Describe(*reply);
  EXPECT_EQ(AsInt(Get(reply->payload, "host_version")), 1);
  EXPECT_EQ(AsInt(Get(reply->payload, "agent_version")), proto::kProtocolVersion);
  std::string extra;
  EXPECT_TRUE(agent.WaitEof(Millis(15000), &extra)) << "agent kept the connection open";
  EXPECT_TRUE(extra.empty()) << "bytes after hello_err: " << Hex(extra);
  ExpectCleanExit(agent);
}

TEST(AgentHandshakeTest, OpBeforeHelloIsBadRequest) {
  AgentHarness agent(false);
  ASSERT_TRUE(agent.ok());
  ASSERT_TRUE(agent.SendRaw(std::string(proto::kSyncMarker) +
                            proto::encode_envelope({7, "ping", Obj({})})));
  auto reply = agent.NextAny();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->id, 7);
  EXPECT_EQ(reply->kind, "agent_error") << Describe(*reply);
  EXPECT_EQ(AsStr(Get(reply->payload, "kind")), "bad_request");
  EXPECT_NE(Get(reply->payload, "message").as_string(), nullptr);
}

TEST(AgentHandshakeTest, SecondHelloIsAnError) {
  AgentHarness agent;
  ASSERT_TRUE(agent.ok());
  ASSERT_TRUE(agent.SendRaw(HelloFrame(proto::kProtocolVersion)));
  auto reply = agent.NextAny();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->kind, "agent_error") << Describe(*reply);
  EXPECT_EQ(AsStr(Get(reply->payload, "kind")), "bad_request");
}

TEST(AgentHandshakeTest, PingPong) {
  AgentHarness agent;
  ASSERT_TRUE(agent.ok());
  auto r = agent.Call("ping");
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.kind(), "pong");
  ASSERT_NE(r.payload().as_map(), nullptr) << Describe(r.env);
  EXPECT_TRUE(r.payload().as_map()->empty());
}

TEST(AgentHandshakeTest, GarbageBeforeMarkerIsSkipped) {
  AgentHarness agent(false);
  ASSERT_TRUE(agent.ok());
  std::string garbage("\x00\xff\x00\x00\x00\x05junkPROVIUM-SYNC-v1\nPROVIUM-", 33);
  ASSERT_TRUE(agent.SendRaw(garbage));
  std::this_thread::sleep_for(Millis(50));
  // The marker itself split across two writes.
  ASSERT_TRUE(agent.SendRaw("PROVIUM-SY"));
  std::this_thread::sleep_for(Millis(50));
  ASSERT_TRUE(agent.SendRaw("NC-v2\n" + HelloFrame(proto::kProtocolVersion)));
  EXPECT_TRUE(agent.ExpectMarker());
  auto reply = agent.NextAny();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->kind, "hello_ok") << Describe(*reply);
  EXPECT_EQ(agent.Call("ping").kind(), "pong");
}

TEST(AgentEnvelopeTest, UnknownOpIsUnsupported) {
  AgentHarness agent;
  ASSERT_TRUE(agent.ok());
  auto r = agent.Call("frobnicate", Obj({}));
  EXPECT_EQ(r.env.id, 1);
  EXPECT_EQ(r.kind(), "agent_error");
  EXPECT_EQ(AsStr(Get(r.payload(), "kind")), "unsupported") << Describe(r.env);
  EXPECT_NE(AsStr(Get(r.payload(), "message")).find("frobnicate"), std::string::npos);
  EXPECT_EQ(agent.Call("ping").kind(), "pong");
}

struct BadField {
  const char* kind;
  Value payload;
  const char* field;
};

TEST(AgentEnvelopeTest, MissingOrMistypedFieldsAreBadRequestNamingTheField) {
  AgentHarness agent;
  ASSERT_TRUE(agent.ok());
  std::vector<BadField> cases = {
      {"read_file", Obj({}), "path"},
      {"read_file", Obj({{"path", Int(5)}}), "path"},
      {"write_file", Obj({{"path", "/tmp/x"}}), "data"},
      {"stat", Obj({{"path", "/"}, {"follow_symlinks", "yes"}}), "follow_symlinks"},
      {"exec", Obj({{"cmd", Int(1)}}), "cmd"},
      {"exec", Obj({{"args", Arr({"-c", "true"})}}), "cmd"},
      {"exec", With(ShellExec("true"), "timeout_ms", "soon"), "timeout_ms"},
      {"open_file", Obj({{"path", "/tmp"}}), "mode"},
      {"kill", Obj({{"handle", "one"}, {"signal", Int(15)}}), "handle"},
      {"sleep_clock", Obj({}), "ns"},
      {"read_mem", Obj({{"addr", Int(0)}}), "len"},
      {"syscall", Obj({{"args", Arr({})}}), "nr"},
      {"rename", Obj({{"from", "/tmp/a"}}), "to"},
      {"batch_op", Obj({}), "items"},
  };
  for (auto& c : cases) {
    auto r = agent.Call(c.kind, c.payload);
    SCOPED_TRACE(std::string(c.kind) + " " + Describe(c.payload));
    EXPECT_EQ(r.kind(), "agent_error") << Describe(r.env);
    EXPECT_EQ(AsStr(Get(r.payload(), "kind")), "bad_request");
    EXPECT_NE(AsStr(Get(r.payload(), "message")).find(c.field), std::string::npos)
        << "message does not name `" << c.field << "`: " << Describe(r.payload());
  }
}

TEST(AgentEnvelopeTest, CancelStreamCloseAndCreditWithoutTargetAreBadRequest) {
  AgentHarness agent;
  ASSERT_TRUE(agent.ok());
  for (const char* kind : {"cancel", "stream_close", "stream_credit"}) {
    auto r = agent.Call(kind, Obj({}));
    EXPECT_EQ(r.kind(), "agent_error") << kind;
    EXPECT_EQ(AsStr(Get(r.payload(), "kind")), "bad_request") << kind;
    EXPECT_NE(AsStr(Get(r.payload(), "message")).find("target"), std::string::npos) << kind;
  }
}

TEST(AgentEnvelopeTest, FireAndForgetOpsSendNoReply) {
  AgentHarness agent;
  ASSERT_TRUE(agent.ok());
  std::int64_t a = agent.Request("cancel", Obj({{"target", Int(999)}}));
  std::int64_t b = agent.Request("stream_close", Obj({{"target", Int(999)}}));
  std::int64_t c = agent.Request("stream_credit", Obj({{"target", Int(999)}, {"bytes", Int(1)}}));
  std::int64_t p = agent.Request("ping");
  auto next = agent.NextAny();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->id, p) << "unexpected frame " << Describe(*next);
  EXPECT_EQ(next->kind, "pong");
  auto extra = agent.NextAny(Millis(200));
  EXPECT_FALSE(extra.has_value()) << Describe(*extra);
  (void)a, (void)b, (void)c;
}

TEST(AgentEnvelopeTest, MalformedBodyIsReportedAndTheAgentSurvives) {
  AgentHarness agent;
  ASSERT_TRUE(agent.ok());
  // A valid msgpack value that is not an envelope, then bytes that are not msgpack at all.
  ASSERT_TRUE(agent.SendRaw(proto::frame(proto::encode(Arr({1, 2})))));
  auto r1 = agent.NextAny();
  ASSERT_TRUE(r1.has_value());
  EXPECT_EQ(r1->kind, "agent_error");
  EXPECT_EQ(AsStr(Get(r1->payload, "kind")), "bad_request");
  ASSERT_TRUE(agent.SendRaw(proto::frame(std::string("\xc1\xc1\xc1", 3))));
  auto r2 = agent.NextAny();
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r2->kind, "agent_error");
  EXPECT_EQ(AsStr(Get(r2->payload, "kind")), "bad_request");
  EXPECT_EQ(agent.Call("ping").kind(), "pong");
}

// §6.3: body limit 128 MiB enforced on read; §6.2: after a framing error the agent hunts for
// the marker again and then expects hello.
TEST(AgentFramingTest, OversizedLengthIsReportedAndTheAgentRehunts) {
  AgentHarness agent;
  ASSERT_TRUE(agent.ok());
  ASSERT_TRUE(agent.SendRaw(std::string("\xff\xff\xff\xf0", 4) + "trailing junk"));
  auto err = agent.NextAny();
  ASSERT_TRUE(err.has_value()) << "no agent_error for an oversized length prefix";
  EXPECT_EQ(err->kind, "agent_error") << Describe(*err);
  EXPECT_NE(Get(err->payload, "kind").as_string(), nullptr);
  // Bytes without a marker are discarded while hunting: this ping must not be answered.
  ASSERT_TRUE(agent.SendRaw(proto::encode_envelope({50, "ping", Obj({})})));
  EXPECT_FALSE(agent.NextAny(Millis(300)).has_value());
  auto hello = agent.Handshake();
  ASSERT_TRUE(hello.has_value()) << "agent did not re-sync after the framing error";
  EXPECT_EQ(hello->kind, "hello_ok");
  EXPECT_EQ(agent.Call("ping").kind(), "pong");
}

TEST(AgentFramingTest, OversizedLengthFollowedByMarkerInTheSameWriteResyncs) {
  AgentHarness agent;
  ASSERT_TRUE(agent.ok());
  std::string burst = std::string("\x7f\xff\xff\xff", 4) + "junk" +
                      std::string(proto::kSyncMarker) + HelloFrame(proto::kProtocolVersion);
  ASSERT_TRUE(agent.SendRaw(burst));
  auto err = agent.NextAny();
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->kind, "agent_error") << Describe(*err);
  EXPECT_TRUE(agent.ExpectMarker(Millis(1500)))
      << "the marker sent right after the bad length prefix was not found";
  auto hello = agent.NextAny(Millis(1500));
  ASSERT_TRUE(hello.has_value()) << "no hello_ok after re-sync";
  EXPECT_EQ(hello->kind, "hello_ok");
}

TEST(AgentFramingTest, PeerDisconnectMidFrameExitsCleanly) {
  AgentHarness agent;
  ASSERT_TRUE(agent.ok());
  std::string frame = proto::encode_envelope({1, "read_file", Obj({{"path", "/etc/hostname"}})});
  ASSERT_TRUE(agent.SendRaw(std::string_view(frame).substr(0, frame.size() / 2)));
  std::this_thread::sleep_for(Millis(50));
  agent.CloseSocket();
  ExpectCleanExit(agent);
}

// `--fd N` serves one connection and exits when the host goes away (§6.3 EOF, §6.4). Three
// rounds, each idle for a moment before the close, so an occasional fast exit cannot hide a
// slow shutdown.
TEST(AgentFramingTest, ExitsPromptlyAtEof) {
  for (int round = 0; round < 3; ++round) {
    AgentHarness agent;
    ASSERT_TRUE(agent.ok());
    EXPECT_EQ(agent.Call("ping").kind(), "pong");
    std::this_thread::sleep_for(Millis(300));
    auto start = std::chrono::steady_clock::now();
    agent.CloseSocket();
    auto st = agent.WaitExit(Millis(15000));
    auto elapsed = std::chrono::steady_clock::now() - start;
    ASSERT_TRUE(st.has_value());
    EXPECT_LT(elapsed, Millis(500))
        << "round " << round << ": idle agent took "
        << std::chrono::duration_cast<Millis>(elapsed).count() << " ms to exit after EOF";
  }
}

TEST(AgentFramingTest, PeerDisconnectMidHeaderExitsCleanly) {
  AgentHarness agent;
  ASSERT_TRUE(agent.ok());
  ASSERT_TRUE(agent.SendRaw(std::string("\x00\x00", 2)));
  agent.CloseSocket();
  ExpectCleanExit(agent);
}

TEST(AgentFramingTest, PeerDisconnectWithRequestsInFlightExitsCleanly) {
  AgentHarness agent;
  ASSERT_TRUE(agent.ok());
  agent.Request("exec", ShellExec("sleep 30"));
  agent.Request("sleep_clock", Obj({{"ns", Int(30'000'000'000)}}));
  std::this_thread::sleep_for(Millis(200));
  agent.CloseSocket();
  ExpectCleanExit(agent);
}

TEST(AgentFramingTest, FrameSplitAcrossManyWritesIsReassembled) {
  AgentHarness agent;
  ASSERT_TRUE(agent.ok());
  std::string frame = proto::encode_envelope({77, "ping", Obj({})});
  for (char c : frame) {
    ASSERT_TRUE(agent.SendRaw(std::string(1, c)));
    std::this_thread::sleep_for(Millis(2));
  }
  auto r = agent.NextAny();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->id, 77);
  EXPECT_EQ(r->kind, "pong");
}

}  // namespace
}  // namespace provium::agent_test
