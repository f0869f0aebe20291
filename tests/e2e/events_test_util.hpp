// Shared helpers for the observability end-to-end tests (events, coverage, list, lsp-setup):
// running arbitrary programs (provium-coverage, the system Python) with stdin, and an
// INDEPENDENT decoder of the event stream written in Python with Debian's `msgpack` module
// (REFERENCE §11.1: 4-byte big-endian length + msgpack map {ts, kind, payload}).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

extern char** environ;

namespace provium::e2e::obs {

using ojson = nlohmann::ordered_json;
using Env = std::map<std::string, std::optional<std::string>>;

inline const char* kPython = "/usr/bin/python3";

inline std::string coverage_bin() { return PROVIUM_COVERAGE_BIN; }
inline fs::path build_dir() { return fs::path(PROVIUM_COVERAGE_BIN).parent_path(); }

inline bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

inline std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) v.push_back(line);
  return v;
}

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
}

/// PATH with the build directory (holding provium and provium-coverage) in front.
inline std::string path_with_build_dir() {
  const char* p = std::getenv("PATH");
  return build_dir().string() + ":" + (p ? p : "/usr/bin:/bin");
}

/// Runs argv[0] (an absolute path) with cwd, stdin data and a hard time limit.
inline RunOutput exec_tool(const std::vector<std::string>& argv, const fs::path& cwd,
                           const Env& env = {}, const std::string& stdin_data = "",
                           std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  return run_program(argv, cwd, environment_with(env), stdin_data, limit);
}

inline RunOutput run_coverage(const Project& p, const std::vector<std::string>& args,
                              const std::string& stdin_data = "") {
  std::vector<std::string> argv = {coverage_bin()};
  argv.insert(argv.end(), args.begin(), args.end());
  return exec_tool(argv, p.dir(), {}, stdin_data);
}

// ---- the independent decoder / encoder -------------------------------------------------------

// Decodes a frame file (or `-` for stdin) strictly: every frame must be whole, its msgpack
// object must fill the frame exactly, be a map of exactly {ts:int, kind:str, payload:map}.
// Prints a JSON array of {ts, kind, payload}; msgpack maps keep their key order, `bin` values
// become {"$bin": "<hex>"}, non-string map keys {"$key": repr} markers.
inline const char* kDecoderPy = R"py(import json, struct, sys
import msgpack

class M(list):
    pass

def conv(o):
    if isinstance(o, M):
        d = {}
        for k, v in o:
            key = k if isinstance(k, str) else "$nonstr:" + repr(k)
            d[key] = conv(v)
        return d
    if isinstance(o, bytes):
        return {"$bin": o.hex()}
    if isinstance(o, list):
        return [conv(x) for x in o]
    return o

def fail(msg):
    sys.stderr.write("decode error: " + msg + "\n")
    sys.exit(1)

path = sys.argv[1]
data = sys.stdin.buffer.read() if path == "-" else open(path, "rb").read()
off = 0
frames = []
while off < len(data):
    if off + 4 > len(data):
        fail("truncated length prefix at byte %d" % off)
    (n,) = struct.unpack(">I", data[off:off + 4])
    off += 4
    if off + n > len(data):
        fail("truncated frame at byte %d: need %d, have %d" % (off, n, len(data) - off))
    try:
        obj = msgpack.unpackb(data[off:off + n], raw=False, strict_map_key=False,
                              object_pairs_hook=M, use_list=True)
    except Exception as e:
        fail("frame %d at byte %d: %r" % (len(frames), off, e))
    off += n
    if not isinstance(obj, M):
        fail("frame %d is not a map" % len(frames))
    top = dict(obj)
    if sorted(top.keys()) != ["kind", "payload", "ts"]:
        fail("frame %d keys %r" % (len(frames), list(top.keys())))
    if not isinstance(top["ts"], int) or isinstance(top["ts"], bool):
        fail("frame %d ts is not an int" % len(frames))
    if not isinstance(top["kind"], str):
        fail("frame %d kind is not a str" % len(frames))
    if not isinstance(top["payload"], M):
        fail("frame %d payload is not a map" % len(frames))
    frames.append({"ts": top["ts"], "kind": top["kind"], "payload": conv(top["payload"])})
print(json.dumps(frames))
)py";

// Reads a JSON array of {"kind", "payload", optional "ts"} on stdin and writes frames to
// argv[1]. Strings in payloads of the form {"$bin": hex} become msgpack bin.
inline const char* kEncoderPy = R"py(import json, struct, sys, time
import msgpack

def conv(o):
    if isinstance(o, dict):
        if list(o.keys()) == ["$bin"]:
            return bytes.fromhex(o["$bin"])
        return {k: conv(v) for k, v in o.items()}
    if isinstance(o, list):
        return [conv(x) for x in o]
    return o

events = json.load(sys.stdin)
with open(sys.argv[1], "wb") as f:
    for e in events:
        body = msgpack.packb({"ts": e.get("ts", time.time_ns()), "kind": e["kind"],
                              "payload": conv(e["payload"])}, use_bin_type=True)
        f.write(struct.pack(">I", len(body)) + body)
)py";

struct Decoded {
  bool ok = false;
  std::string error;
  std::vector<ojson> frames;
};

inline Decoded decode_frames_at(const fs::path& workdir, const std::string& file,
                                const std::string& stdin_data = "") {
  Decoded d;
  fs::path script = workdir / ".decode_events.py";
  if (!fs::exists(script)) write_file(script, kDecoderPy);
  auto r = exec_tool({kPython, script.string(), file}, workdir, {}, stdin_data);
  if (r.exit_code != 0) {
    d.error = "decoder exit " + std::to_string(r.exit_code) + ": " + r.err;
    return d;
  }
  try {
    ojson arr = ojson::parse(r.out);
    for (auto& f : arr) d.frames.push_back(f);
    d.ok = true;
  } catch (const std::exception& e) {
    d.error = std::string("decoder output is not JSON: ") + e.what();
  }
  return d;
}

/// Decodes project-relative or absolute frame file `file`; fails the test on a decode error.
inline std::vector<ojson> decode_frames(const Project& p, const std::string& file) {
  auto d = decode_frames_at(p.dir(), file);
  EXPECT_TRUE(d.ok) << d.error;
  return d.frames;
}

/// Decodes frames from a byte string (e.g. captured stdout).
inline Decoded decode_bytes(const Project& p, const std::string& bytes) {
  return decode_frames_at(p.dir(), "-", bytes);
}

/// Writes hand-made frames [{kind, payload}] to project-relative `file`.
inline void encode_frames(const Project& p, const std::string& file, const ojson& events) {
  fs::path script = p.dir() / ".encode_events.py";
  if (!fs::exists(script)) write_file(script, kEncoderPy);
  auto r = exec_tool({kPython, script.string(), file}, p.dir(), {}, events.dump());
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

/// Frames of one kind.
inline std::vector<ojson> of_kind(const std::vector<ojson>& frames, const std::string& kind) {
  std::vector<ojson> out;
  for (auto& f : frames)
    if (f["kind"] == kind) out.push_back(f);
  return out;
}

inline std::string str_or(const ojson& j, const char* key, const std::string& dflt = "") {
  if (j.is_object() && j.contains(key) && j[key].is_string()) return j[key].get<std::string>();
  return dflt;
}

/// The field names of a JSON object, in order.
inline std::vector<std::string> keys_of(const ojson& j) {
  std::vector<std::string> v;
  for (auto& [k, _] : j.items()) v.push_back(k);
  return v;
}

/// True for a msgpack unsigned/signed integer that is >= 0.
inline bool is_u64(const ojson& j) {
  return j.is_number_unsigned() || (j.is_number_integer() && j.get<long long>() >= 0);
}

// ---- unix socket client ---------------------------------------------------------------------

/// Connects to a unix socket, retrying until `limit`; -1 on failure.
inline int connect_unix(const fs::path& path, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string s = path.string();
    if (s.size() >= sizeof addr.sun_path) return -1;
    std::memcpy(addr.sun_path, s.c_str(), s.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return fd;
    if (fd >= 0) ::close(fd);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

/// Reads from fd until EOF or `limit`.
inline std::string read_until_eof(int fd, std::chrono::milliseconds limit) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + limit;
  char buf[65536];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd pfd{fd, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(std::min<long long>(left.count(), 100))) <= 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

/// Suite-mode flags every observability run uses (no KVM here; keep the pool deterministic).
inline std::vector<std::string> suite_args(std::vector<std::string> args) {
  for (const char* a : {"--no-preflight", "--no-ksm", "--mem", "8G", "--cpus", "4"})
    args.push_back(a);
  return args;
}

}  // namespace provium::e2e::obs
