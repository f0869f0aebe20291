// Byte-exact conformance of the wire protocol (REFERENCE §6.3-6.6): every message kind is pinned
// as a hex golden string, so any change to a field name, type, encoding or the framing shows up
// here and must come with a PROTOCOL_VERSION bump (§6.4). The goldens were produced by an
// independent msgpack encoder (smallest int encoding, fixstr/str8, bin8, sorted map keys).
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "agent_harness.hpp"

namespace provium::agent_test {
namespace {

std::string Encode(std::int64_t id, const std::string& kind, Value payload) {
  return Hex(proto::encode_envelope({id, kind, std::move(payload)}));
}

std::string Unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// Decoding the golden and encoding it again gives the same bytes (the encoding is canonical).
void ExpectRoundTrip(const std::string& golden_hex) {
  std::string bytes = Unhex(golden_hex);
  ASSERT_GE(bytes.size(), 4u);
  Envelope e = proto::decode_envelope(std::string_view(bytes).substr(4));
  EXPECT_EQ(Hex(proto::encode_envelope(e)), golden_hex);
}

std::set<std::string> Keys(const Value& v) {
  std::set<std::string> out;
  if (auto m = v.as_map())
    for (auto& [k, x] : *m) out.insert(k);
  return out;
}

constexpr const char* kHello =
    "0000002b83a2696400a46b696e64a568656c6c6fa77061796c6f616481b070726f746f636f6c5f76"
    "657273696f6e03";
constexpr const char* kHelloOk =
    "0000009a83a2696400a46b696e64a868656c6c6f5f6f6ba77061796c6f616482a56167656e7484ad"
    "6167656e745f76657273696f6ea5302e312e30ac6361706162696c697469657394a663616e63656c"
    "ab657865635f6f7574707574a8726561645f6d656da7776f726b657273a66b65726e656cae362e31"
    "2e302d31382d616d643634a26f73a56c696e7578b070726f746f636f6c5f76657273696f6e03";
constexpr const char* kHelloErr =
    "0000003a83a2696400a46b696e64a968656c6c6f5f657272a77061796c6f616482ad6167656e745f"
    "76657273696f6e03ac686f73745f76657273696f6e01";
constexpr const char* kOkData =
    "0000004083a2696403a46b696e64b0726561645f66696c655f726573756c74a77061796c6f616482"
    "a76f7574636f6d65a26f6ba576616c756581a464617461c403686900";
constexpr const char* kOkUnit =
    "0000003283a2696404a46b696e64ac636c6f73655f726573756c74a77061796c6f616482a76f7574"
    "636f6d65a26f6ba576616c7565c0";
constexpr const char* kOkHandle =
    "0000003e83a2696405a46b696e64b06f70656e5f66696c655f726573756c74a77061796c6f616482"
    "a76f7574636f6d65a26f6ba576616c7565cf0000000100000000";
constexpr const char* kErr =
    "0000006083a2696406a46b696e64b0726561645f66696c655f726573756c74a77061796c6f616482"
    "a76f7574636f6d65a3657272a576616c756582a56572726e6f02a76d657373616765b94e6f207375"
    "63682066696c65206f72206469726563746f7279";
constexpr const char* kAgentError =
    "0000004d83a2696407a46b696e64ab6167656e745f6572726f72a77061796c6f616482a46b696e64"
    "ab6261645f72657175657374a76d657373616765b46d697373696e67206669656c64206070617468"
    "60";
constexpr const char* kExec =
    "0000006783a2696409a46b696e64a465786563a77061796c6f616487a46172677392a22d63a76563"
    "686f206869a3636d64a72f62696e2f7368a3637764a12fa3656e7681a141a131a9656e765f636c65"
    "6172c2a5737464696ec402696eaa74696d656f75745f6d73cd03e8";
constexpr const char* kExecOk =
    "0000006183a2696409a46b696e64ab657865635f726573756c74a77061796c6f616482a76f757463"
    "6f6d65a26f6ba576616c756583a673746174757382a46b696e64a6657869746564a576616c756500"
    "a6737464657272c400a67374646f7574c40368690a";
constexpr const char* kExecOutput =
    "0000003783a2696409a46b696e64ab657865635f6f7574707574a77061796c6f616482a76368616e"
    "6e656ca67374646f7574a464617461c4027879";
constexpr const char* kWaitTimedOut =
    "0000006183a269640aa46b696e64ab776169745f726573756c74a77061796c6f616482a76f757463"
    "6f6d65a26f6ba576616c756583a673746174757382a46b696e64a974696d65645f6f7574a576616c"
    "7565c0a6737464657272c400a67374646f7574c400";
constexpr const char* kSeek =
    "0000003583a269640ba46b696e64a47365656ba77061796c6f616483a668616e646c65cd012ca66f"
    "6666736574ffa67768656e6365a3656e64";
constexpr const char* kTail =
    "0000004b83a269640ca46b696e64a97461696c5f66696c65a77061796c6f616482a470617468aa2f"
    "7661722f6c6f672f78a5737461727482a46b696e64a66f6666736574a576616c7565ce00011170";
constexpr const char* kStreamFrame =
    "0000002a83a269640ca46b696e64ac73747265616d5f6672616d65a77061796c6f616481a4646174"
    "61c403616263";
constexpr const char* kStreamEnd =
    "0000005383a269640ca46b696e64aa73747265616d5f656e64a77061796c6f616482a46461746182"
    "a56572726e6f05a76d657373616765b2496e7075742f6f7574707574206572726f72a6726561736f"
    "6ea56572726f72";
constexpr const char* kCredit =
    "0000003483a269640da46b696e64ad73747265616d5f637265646974a77061796c6f616482a56279"
    "746573ce00400000a67461726765740c";
constexpr const char* kSyscall =
    "0000002e83a269640ea46b696e64ae73797363616c6c5f726573756c74a77061796c6f616482a565"
    "72726e6f09a3726574ff";
constexpr const char* kPing = "0000001883a269640fa46b696e64a470696e67a77061796c6f616480";
constexpr const char* kPongId5 = "0000001883a2696405a46b696e64a4706f6e67a77061796c6f616480";
constexpr const char* kBatch =
    "0000009983a2696410a46b696e64af62617463685f6f705f726573756c74a77061796c6f616481a9"
    "726573706f6e7365739282a46b696e64af6765745f74696d655f726573756c74a77061796c6f6164"
    "82a76f7574636f6d65a26f6ba576616c756581a26e73fb82a46b696e64ab6167656e745f6572726f"
    "72a77061796c6f616482a46b696e64ab756e737570706f72746564a76d657373616765a178";
constexpr const char* kAgentExecOk =
    "0000006183a2696402a46b696e64ab657865635f726573756c74a77061796c6f616482a76f757463"
    "6f6d65a26f6ba576616c756583a673746174757382a46b696e64a6657869746564a576616c756503"
    "a6737464657272c40165a67374646f7574c4026869";
// Workers (protocol 3).
constexpr const char* kSpawnWorker =
    "0000004683a2696414a46b696e64ac737061776e5f776f726b6572a77061796c6f616484a4636170"
    "7391a76e65745f726177a3676964cd03e8a667726f757073920a14a3756964cd03e8";
constexpr const char* kSpawnWorkerOk =
    "0000003983a2696414a46b696e64b3737061776e5f776f726b65725f726573756c74a77061796c6f"
    "616482a76f7574636f6d65a26f6ba576616c756507";
constexpr const char* kWorkerExec =
    "0000004883a2696415a46b696e64ab776f726b65725f65786563a77061796c6f616482a465786563"
    "82a46172677392a22d63a56964202d75a3636d64a72f62696e2f7368a668616e646c6507";
constexpr const char* kWorkerExecOk =
    "0000006a83a2696415a46b696e64b2776f726b65725f657865635f726573756c74a77061796c6f61"
    "6482a76f7574636f6d65a26f6ba576616c756583a673746174757382a46b696e64a6657869746564"
    "a576616c756500a6737464657272c400a67374646f7574c405313030300a";
constexpr const char* kWorkerSyscall =
    "0000004083a2696416a46b696e64ae776f726b65725f73797363616c6ca77061796c6f616482a461"
    "72677382a46172677396000000000000a26e7269a668616e646c6507";
constexpr const char* kWorkerSyscallResult =
    "0000003583a2696416a46b696e64b5776f726b65725f73797363616c6c5f726573756c74a7706179"
    "6c6f616482a56572726e6f01a3726574ff";
constexpr const char* kWorkerSyscallBegin =
    "0000004083a2696417a46b696e64b4776f726b65725f73797363616c6c5f626567696ea77061796c"
    "6f616482a46172677382a46172677390a26e7227a668616e646c6507";
constexpr const char* kWorkerSyscallBeginOk =
    "0000004183a2696417a46b696e64bb776f726b65725f73797363616c6c5f626567696e5f72657375"
    "6c74a77061796c6f616482a76f7574636f6d65a26f6ba576616c756508";
constexpr const char* kWorkerSyscallAwait =
    "0000003083a2696418a46b696e64b4776f726b65725f73797363616c6c5f6177616974a77061796c"
    "6f616481a668616e646c6508";
constexpr const char* kWorkerRunAsync =
    "0000004f83a2696419a46b696e64b0776f726b65725f72756e5f6173796e63a77061796c6f616482"
    "a46172677382a46172677392a22d63a7736c6565702031a3636d64a72f62696e2f7368a668616e64"
    "6c6507";
constexpr const char* kWorkerOpenFile =
    "0000004483a269641aa46b696e64b0776f726b65725f6f70656e5f66696c65a77061796c6f616482"
    "a46172677382a46d6f646503a470617468a62f746d702f66a668616e646c6507";
constexpr const char* kWorkerOpenFileOk =
    "0000003d83a269641aa46b696e64b7776f726b65725f6f70656e5f66696c655f726573756c74a770"
    "61796c6f616482a76f7574636f6d65a26f6ba576616c756509";
constexpr const char* kWorkerKill =
    "0000002f83a269641ba46b696e64ab776f726b65725f6b696c6ca77061796c6f616482a668616e64"
    "6c6507a67369676e616c0f";
constexpr const char* kWorkerKillOk =
    "0000003883a269641ba46b696e64b2776f726b65725f6b696c6c5f726573756c74a77061796c6f61"
    "6482a76f7574636f6d65a26f6ba576616c756502";
constexpr const char* kWorkerJoin =
    "0000002783a269641ca46b696e64ab776f726b65725f6a6f696ea77061796c6f616481a668616e64"
    "6c6507";
constexpr const char* kWorkerJoinOk =
    "0000004683a269641ca46b696e64b2776f726b65725f6a6f696e5f726573756c74a77061796c6f61"
    "6482a76f7574636f6d65a26f6ba576616c756581ab657869745f737461747573cc89";
constexpr const char* kWorkerGone =
    "0000007583a269641da46b696e64b2776f726b65725f657865635f726573756c74a77061796c6f61"
    "6482a76f7574636f6d65a3657272a576616c756582a56572726e6f03a76d657373616765d92b776f"
    "726b6572203720697320676f6e653a206b696c6c6564206279207369676e616c203920284b494c4c"
    "29";
constexpr const char* kUnknownWorker =
    "0000005483a269641ea46b696e64ab6167656e745f6572726f72a77061796c6f616482a46b696e64"
    "ae756e6b6e6f776e5f68616e646c65a76d657373616765b86e6f20776f726b657220776974682068"
    "616e646c65203939";

TEST(AgentConformanceTest, Constants) {
  EXPECT_EQ(proto::kProtocolVersion, 3);
  EXPECT_EQ(Hex(proto::kSyncMarker), "50524f5649554d2d53594e432d76320a");
  EXPECT_EQ(proto::kSyncMarker.size(), 16u);
  EXPECT_EQ(proto::kMaxFrameBytes, 128u * 1024 * 1024);
  EXPECT_EQ(proto::kInitialStreamCredit, 4u * 1024 * 1024);
  EXPECT_EQ(proto::kStreamChunkBytes, 64u * 1024);
  EXPECT_EQ(proto::kExecOutputChunkBytes, 1u * 1024 * 1024);
}

TEST(AgentConformanceTest, FrameIsBigEndianLengthPrefix) {
  EXPECT_EQ(Hex(proto::frame("abc")), "00000003616263");
  EXPECT_EQ(Hex(proto::frame(std::string(0x10203, 'x')).substr(0, 4)), "00010203");
}

TEST(AgentConformanceTest, HandshakeMessages) {
  EXPECT_EQ(Encode(0, "hello", Obj({{"protocol_version", Int(3)}})), kHello);
  Value agent = Obj({{"os", "linux"},
                     {"agent_version", "0.1.0"},
                     {"kernel", "6.1.0-18-amd64"},
                     {"capabilities", Arr({"cancel", "exec_output", "read_mem", "workers"})}});
  EXPECT_EQ(Encode(0, "hello_ok", Obj({{"protocol_version", Int(3)}, {"agent", agent}})), kHelloOk);
  EXPECT_EQ(Encode(0, "hello_err", Obj({{"host_version", Int(1)}, {"agent_version", Int(3)}})),
            kHelloErr);
  EXPECT_EQ(Encode(15, "ping", Obj({})), kPing);
}

TEST(AgentConformanceTest, OpResultShapes) {
  EXPECT_EQ(
      Encode(3, "read_file_result", proto::op_ok(Obj({{"data", Bin(std::string("hi\0", 3))}}))),
      kOkData);
  EXPECT_EQ(Encode(4, "close_result", proto::op_ok()), kOkUnit);
  EXPECT_EQ(Encode(5, "open_file_result", proto::op_ok(Int(std::int64_t{1} << 32))), kOkHandle);
  EXPECT_EQ(Encode(6, "read_file_result", proto::op_err(2, "No such file or directory")), kErr);
  EXPECT_EQ(Encode(6, "read_file_result", proto::op_errno(ENOENT)), kErr);
  EXPECT_EQ(Encode(7, "agent_error", proto::agent_error("bad_request", "missing field `path`")),
            kAgentError);
}

TEST(AgentConformanceTest, ExecMessages) {
  Value exec = Obj({{"cmd", "/bin/sh"},
                    {"args", Arr({"-c", "echo hi"})},
                    {"env", Obj({{"A", "1"}})},
                    {"env_clear", Value{false}},
                    {"stdin", Bin("in")},
                    {"cwd", "/"},
                    {"timeout_ms", Int(1000)}});
  EXPECT_EQ(Encode(9, "exec", exec), kExec);
  Value ok = Obj({{"status", Obj({{"kind", "exited"}, {"value", Int(0)}})},
                  {"stdout", Bin("hi\n")},
                  {"stderr", Bin("")}});
  EXPECT_EQ(Encode(9, "exec_result", proto::op_ok(ok)), kExecOk);
  EXPECT_EQ(Encode(9, "exec_output", Obj({{"channel", "stdout"}, {"data", Bin("xy")}})),
            kExecOutput);
  Value timed = Obj({{"status", Obj({{"kind", "timed_out"}, {"value", Value{}}})},
                     {"stdout", Bin("")},
                     {"stderr", Bin("")}});
  EXPECT_EQ(Encode(10, "wait_result", proto::op_ok(timed)), kWaitTimedOut);
}

TEST(AgentConformanceTest, FileAndStreamMessages) {
  EXPECT_EQ(Encode(11, "seek", Obj({{"handle", Int(300)}, {"offset", Int(-1)}, {"whence", "end"}})),
            kSeek);
  EXPECT_EQ(Encode(12, "tail_file",
                   Obj({{"path", "/var/log/x"},
                        {"start", Obj({{"kind", "offset"}, {"value", Int(70000)}})}})),
            kTail);
  EXPECT_EQ(Encode(12, "stream_frame", Obj({{"data", Bin("abc")}})), kStreamFrame);
  EXPECT_EQ(Encode(12, "stream_end",
                   Obj({{"reason", "error"},
                        {"data", Obj({{"errno", Int(5)}, {"message", "Input/output error"}})}})),
            kStreamEnd);
  EXPECT_EQ(Encode(13, "stream_credit", Obj({{"target", Int(12)}, {"bytes", Int(4 << 20)}})),
            kCredit);
}

TEST(AgentConformanceTest, SyscallAndBatchMessages) {
  EXPECT_EQ(Encode(14, "syscall_result", Obj({{"ret", Int(-1)}, {"errno", Int(9)}})), kSyscall);
  Value responses =
      Arr({Obj({{"kind", "get_time_result"}, {"payload", proto::op_ok(Obj({{"ns", Int(-5)}}))}}),
           Obj({{"kind", "agent_error"}, {"payload", proto::agent_error("unsupported", "x")}})});
  EXPECT_EQ(Encode(16, "batch_op_result", Obj({{"responses", responses}})), kBatch);
}

TEST(AgentConformanceTest, WorkerMessages) {
  EXPECT_EQ(Encode(20, "spawn_worker",
                   Obj({{"uid", Int(1000)},
                        {"gid", Int(1000)},
                        {"groups", Arr({Int(10), Int(20)})},
                        {"caps", Arr({"net_raw"})}})),
            kSpawnWorker);
  EXPECT_EQ(Encode(20, "spawn_worker_result", proto::op_ok(Int(7))), kSpawnWorkerOk);
  EXPECT_EQ(Encode(21, "worker_exec", Obj({{"handle", Int(7)}, {"exec", ShellExec("id -u")}})),
            kWorkerExec);
  Value ok = Obj({{"status", Obj({{"kind", "exited"}, {"value", Int(0)}})},
                  {"stdout", Bin("1000\n")},
                  {"stderr", Bin("")}});
  EXPECT_EQ(Encode(21, "worker_exec_result", proto::op_ok(ok)), kWorkerExecOk);
  Value sys = Obj({{"nr", Int(105)}, {"args", Arr({0, 0, 0, 0, 0, 0})}});
  EXPECT_EQ(Encode(22, "worker_syscall", Obj({{"handle", Int(7)}, {"args", sys}})), kWorkerSyscall);
  EXPECT_EQ(Encode(22, "worker_syscall_result", Obj({{"ret", Int(-1)}, {"errno", Int(1)}})),
            kWorkerSyscallResult);
  EXPECT_EQ(Encode(23, "worker_syscall_begin",
                   Obj({{"handle", Int(7)}, {"args", Obj({{"nr", Int(39)}, {"args", Arr({})}})}})),
            kWorkerSyscallBegin);
  EXPECT_EQ(Encode(23, "worker_syscall_begin_result", proto::op_ok(Int(8))), kWorkerSyscallBeginOk);
  EXPECT_EQ(Encode(24, "worker_syscall_await", Obj({{"handle", Int(8)}})), kWorkerSyscallAwait);
  EXPECT_EQ(
      Encode(25, "worker_run_async", Obj({{"handle", Int(7)}, {"args", ShellExec("sleep 1")}})),
      kWorkerRunAsync);
  EXPECT_EQ(
      Encode(26, "worker_open_file",
             Obj({{"handle", Int(7)}, {"args", Obj({{"path", "/tmp/f"}, {"mode", Int(3)}})}})),
      kWorkerOpenFile);
  EXPECT_EQ(Encode(26, "worker_open_file_result", proto::op_ok(Int(9))), kWorkerOpenFileOk);
  EXPECT_EQ(Encode(27, "worker_kill", Obj({{"handle", Int(7)}, {"signal", Int(15)}})), kWorkerKill);
  EXPECT_EQ(Encode(27, "worker_kill_result", proto::op_ok(Int(2))), kWorkerKillOk);
  EXPECT_EQ(Encode(28, "worker_join", Obj({{"handle", Int(7)}})), kWorkerJoin);
  EXPECT_EQ(Encode(28, "worker_join_result", proto::op_ok(Obj({{"exit_status", Int(137)}}))),
            kWorkerJoinOk);
  EXPECT_EQ(Encode(29, "worker_exec_result",
                   proto::op_err(3, "worker 7 is gone: killed by signal 9 (KILL)")),
            kWorkerGone);
  EXPECT_EQ(
      Encode(30, "agent_error", proto::agent_error("unknown_handle", "no worker with handle 99")),
      kUnknownWorker);
  for (const char* g :
       {kSpawnWorker, kSpawnWorkerOk, kWorkerExec, kWorkerExecOk, kWorkerSyscall,
        kWorkerSyscallResult, kWorkerSyscallBegin, kWorkerSyscallBeginOk, kWorkerSyscallAwait,
        kWorkerRunAsync, kWorkerOpenFile, kWorkerOpenFileOk, kWorkerKill, kWorkerKillOk,
        kWorkerJoin, kWorkerJoinOk, kWorkerGone, kUnknownWorker}) {
    SCOPED_TRACE(g);
    ExpectRoundTrip(g);
  }
}

// Every worker op is in the op table (and so is dispatched, not `unsupported`).
TEST(AgentConformanceTest, WorkerOpsAreInTheOpTable) {
  std::set<std::string> ops;
#define PROVIUM_COLLECT_OP(name, streams) ops.insert(#name);
  PROVIUM_AGENT_OPS(PROVIUM_COLLECT_OP)
#undef PROVIUM_COLLECT_OP
  for (const char* k : {"spawn_worker", "worker_exec", "worker_syscall", "worker_syscall_begin",
                        "worker_syscall_await", "worker_run_async", "worker_open_file",
                        "worker_kill", "worker_join"})
    EXPECT_EQ(ops.count(k), 1u) << k;
}

// The real agent's bytes for an unknown worker handle.
TEST(AgentConformanceTest, AgentUnknownWorkerBytes) {
  AgentHarness agent;
  ASSERT_TRUE(agent.ok());
  ASSERT_TRUE(agent.Send({30, "worker_join", Obj({{"handle", Int(99)}})}));
  auto body = agent.RecvFrameBody();
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(Hex(proto::frame(*body)), kUnknownWorker);
}

TEST(AgentConformanceTest, GoldensRoundTripThroughTheDecoder) {
  for (const char* g :
       {kHello,       kHelloOk,   kHelloErr, kOkData,     kOkUnit,       kOkHandle, kErr,
        kAgentError,  kExec,      kExecOk,   kExecOutput, kWaitTimedOut, kSeek,     kTail,
        kStreamFrame, kStreamEnd, kCredit,   kSyscall,    kPing,         kBatch}) {
    SCOPED_TRACE(g);
    ExpectRoundTrip(g);
  }
}

TEST(AgentConformanceTest, DecoderKeepsBinAndStrApart) {
  Envelope e = proto::decode_envelope(std::string_view(Unhex(kOkData)).substr(4));
  const Value& data = Get(ValueOf(e.payload), "data");
  ASSERT_TRUE(IsBin(data));
  EXPECT_EQ(AsBin(data), std::string("hi\0", 3));
}

// The real agent's bytes, where they are deterministic.
TEST(AgentConformanceTest, AgentPongBytes) {
  AgentHarness agent;
  ASSERT_TRUE(agent.ok());
  ASSERT_TRUE(agent.Send({5, "ping", Obj({})}));
  auto body = agent.RecvFrameBody();
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(Hex(proto::frame(*body)), kPongId5);
}

TEST(AgentConformanceTest, AgentHelloErrBytes) {
  AgentHarness agent(false);
  ASSERT_TRUE(agent.ok());
  std::string out(proto::kSyncMarker);
  out += Unhex(kHello).substr(0, 4 + 0x2b - 1) + std::string(1, '\x01');  // protocol_version 1
  ASSERT_TRUE(agent.SendRaw(out));
  agent.ExpectMarker(Millis(2000));  // a marker before hello_err is tolerated
  auto body = agent.RecvFrameBody();
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(Hex(proto::frame(*body)), kHelloErr);
}

TEST(AgentConformanceTest, AgentExecResultBytes) {
  AgentHarness agent;
  ASSERT_TRUE(agent.ok());
  ASSERT_TRUE(agent.Send({2, "exec", ShellExec("printf hi; printf e >&2; exit 3")}));
  auto body = agent.RecvFrameBody();
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(Hex(proto::frame(*body)), kAgentExecOk);
}

TEST(AgentConformanceTest, AgentHelloOkShapeIsExactAndCanonical) {
  AgentHarness agent(false);
  ASSERT_TRUE(agent.ok());
  ASSERT_TRUE(agent.SendRaw(std::string(proto::kSyncMarker) + Unhex(kHello)));
  ASSERT_TRUE(agent.ExpectMarker());
  auto body = agent.RecvFrameBody();
  ASSERT_TRUE(body.has_value());
  Envelope e = proto::decode_envelope(*body);
  EXPECT_EQ(proto::encode(proto::decode(*body)), *body) << "non-canonical encoding";
  EXPECT_EQ(Keys(proto::decode(*body)), (std::set<std::string>{"id", "kind", "payload"}));
  EXPECT_EQ(e.kind, "hello_ok");
  EXPECT_EQ(Keys(e.payload), (std::set<std::string>{"agent", "protocol_version"}));
  EXPECT_EQ(Keys(Get(e.payload, "agent")),
            (std::set<std::string>{"agent_version", "capabilities", "kernel", "os"}));
}

TEST(AgentConformanceTest, AgentErrorShapesAreExact) {
  AgentHarness agent;
  ASSERT_TRUE(agent.ok());
  ASSERT_TRUE(agent.Send({3, "no_such_op", Obj({})}));
  auto body = agent.RecvFrameBody();
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(proto::encode(proto::decode(*body)), *body);
  Envelope e = proto::decode_envelope(*body);
  EXPECT_EQ(e.id, 3);
  EXPECT_EQ(e.kind, "agent_error");
  EXPECT_EQ(Keys(e.payload), (std::set<std::string>{"kind", "message"}));

  ASSERT_TRUE(agent.Send({4, "read_file", Obj({{"path", "/nonexistent/provium/x"}})}));
  body = agent.RecvFrameBody();
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(proto::encode(proto::decode(*body)), *body);
  e = proto::decode_envelope(*body);
  EXPECT_EQ(e.id, 4);
  EXPECT_EQ(e.kind, "read_file_result");
  EXPECT_EQ(Keys(e.payload), (std::set<std::string>{"outcome", "value"}));
  EXPECT_EQ(AsStr(Get(e.payload, "outcome")), "err");
  EXPECT_EQ(Keys(Get(e.payload, "value")), (std::set<std::string>{"errno", "message"}));
  EXPECT_EQ(AsInt(Get(Get(e.payload, "value"), "errno")), ENOENT);
}

}  // namespace
}  // namespace provium::agent_test
