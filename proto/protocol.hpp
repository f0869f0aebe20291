// The host <-> agent wire protocol, version 3 (REFERENCE §6). Everything both ends must agree
// on lives here: constants, the envelope, the result shapes, and the table of operations.
//
//   frame    = u32 big-endian body length | msgpack body            (body <= 128 MiB)
//   body     = {"id": u64, "kind": str, "payload": any}             (id 0 = hello*)
//   OpResult = {"outcome": "ok", "value": T} | {"outcome": "err", "value": {"errno", "message"}}
//   agent_error payload = {"kind": bad_request|unsupported|unknown_handle|internal, "message"}
//
// Every logical connection starts with kSyncMarker from the host; the agent answers with the
// marker before hello_ok, so both sides can skip stale bytes on a serial line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "proto/codec.hpp"
#include "proto/value.hpp"

namespace provium::proto {

/// Bumped on ANY change to the ops, fields, shapes, marker or event schema. 3: workers
/// (spawn_worker and the worker_* ops).
inline constexpr std::int64_t kProtocolVersion = 3;
/// REFERENCE §6.2 pins these exact 16 bytes. The "v2" names the marker's own generation (the
/// multiplexed, marker-framed connection that replaced the original's protocol 1), not the
/// protocol version: the version is negotiated by hello, so the marker stays as specified.
inline constexpr std::string_view kSyncMarker = "PROVIUM-SYNC-v2\n";
inline constexpr std::uint32_t kMaxFrameBytes = 128u << 20;
inline constexpr std::uint64_t kInitialStreamCredit = 4u << 20;
inline constexpr std::size_t kStreamChunkBytes = 64u << 10;
inline constexpr std::size_t kExecOutputChunkBytes = 1u << 20;
inline constexpr int kDefaultVsockPort = 1234;
inline constexpr std::string_view kVirtioPortName = "org.provium.agent.0";

// Every request kind, defined once. X(name, streams): `streams` ops reply with <op>_result and
// then stream_frame / stream_end frames under the same id.
#define PROVIUM_AGENT_OPS(X)     \
  X(open_file, false)            \
  X(read, false)                 \
  X(write, false)                \
  X(seek, false)                 \
  X(close, false)                \
  X(read_file, false)            \
  X(write_file, false)           \
  X(stat, false)                 \
  X(listdir, false)              \
  X(mkdir, false)                \
  X(unlink, false)               \
  X(rename, false)               \
  X(exec, false)                 \
  X(run_async, false)            \
  X(wait, false)                 \
  X(kill, false)                 \
  X(get_pid, false)              \
  X(proc_stdin_write, false)     \
  X(proc_stdin_close, false)     \
  X(proc_status, false)          \
  X(get_time, false)             \
  X(set_time, false)             \
  X(sleep_clock, false)          \
  X(advance_clock, false)        \
  X(syscall, false)              \
  X(ioctl, false)                \
  X(read_mem, false)             \
  X(zero_free_memory, false)     \
  X(tail_file, true)             \
  X(proc_stream, true)           \
  X(fd_stream, true)             \
  X(stream_close, false)         \
  X(stream_credit, false)        \
  X(batch_op, false)             \
  X(batch_exec, false)           \
  X(cancel, false)               \
  X(ping, false)                 \
  X(spawn_worker, false)         \
  X(worker_exec, false)          \
  X(worker_syscall, false)       \
  X(worker_syscall_begin, false) \
  X(worker_syscall_await, false) \
  X(worker_run_async, false)     \
  X(worker_open_file, false)     \
  X(worker_kill, false)          \
  X(worker_join, false)

struct Envelope {
  std::int64_t id = 0;
  std::string kind;
  Value payload;
};

/// A complete frame (length prefix included) carrying `e`.
std::string encode_envelope(Envelope e);
/// Parses a frame body; throws DecodeError when it is not an envelope.
Envelope decode_envelope(std::string_view body);

Value op_ok(Value value = {});
Value op_err(int err, std::string message);
/// An OS error from errno: {"errno": err, "message": strerror(err)}.
Value op_errno(int err);
Value agent_error(std::string_view kind, std::string message);

/// Field access that throws DecodeError naming the field when it is missing or mistyped.
const Value& field(const Value& payload, const char* name);
std::int64_t int_field(const Value& payload, const char* name);
std::string str_field(const Value& payload, const char* name);
std::string bytes_field(const Value& payload, const char* name);  // bin (or str) -> bytes
std::int64_t int_field_or(const Value& payload, const char* name, std::int64_t dflt);
bool bool_field_or(const Value& payload, const char* name, bool dflt);
const Value* opt_field(const Value& payload, const char* name);

}  // namespace provium::proto
