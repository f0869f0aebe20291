// Byte streams from files: tail_file (follow a path from a start position) and fd_stream (an
// open file handle from its cursor). Frames are <= 64 KiB and flow-controlled by credit.
#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <thread>

#include "agent/ops.hpp"
#include "agent/state.hpp"
#include "proto/protocol.hpp"

namespace provium::agent {
namespace {

using proto::Value;

void end_stream(Request& r, const char* reason, std::optional<int> err = std::nullopt) {
  proto::Map m;
  m["reason"] = Value{reason};
  if (err) {
    proto::Map e;
    e["errno"] = Value{static_cast<std::int64_t>(*err)};
    e["message"] = Value{std::string(std::strerror(*err))};
    m["data"] = Value{std::move(e)};
  }
  r.send("stream_end", Value{std::move(m)});
}

// Follows `fd` like `tail -f`: reads what is there, then polls for growth every 20 ms, until
// the host closes the stream or the connection goes away. `follow` false: stop at EOF.
void pump_fd(Request& r, int fd, bool follow) {
  auto stream = r.conn->open_stream(r.id);
  r.reply(proto::op_ok());
  std::string buf(proto::kStreamChunkBytes, '\0');
  while (true) {
    {
      std::lock_guard lk(stream->mu);
      if (stream->closed) {
        end_stream(r, "closed");
        break;
      }
    }
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      end_stream(r, "error", errno);
      break;
    }
    if (n == 0) {
      if (!follow) {
        end_stream(r, "eof");
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    if (!stream->take(static_cast<std::uint64_t>(n))) {
      end_stream(r, "closed");
      break;
    }
    proto::Map m;
    m["data"] = Value{proto::Bytes{buf.substr(0, static_cast<size_t>(n))}};
    if (!r.send("stream_frame", Value{std::move(m)})) break;
  }
  r.conn->close_stream(r.id);
}

void op_tail_file(Request& r) {
  std::string path = proto::str_field(r.payload, "path");
  auto& start = proto::field(r.payload, "start");
  std::string kind = proto::str_field(start, "kind");
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw OsError{errno, path};
  off_t pos = 0;
  if (kind == "end") {
    pos = ::lseek(fd.get(), 0, SEEK_END);
  } else if (kind == "offset") {
    pos = ::lseek(fd.get(), static_cast<off_t>(proto::int_field(start, "value")), SEEK_SET);
  } else if (kind != "beginning") {
    throw proto::DecodeError("start.kind must be beginning, end or offset");
  }
  if (pos < 0) throw OsError{errno, path};
  pump_fd(r, fd.get(), true);
}

void op_fd_stream(Request& r) {
  std::int64_t h = proto::int_field(r.payload, "handle");
  auto f = State::get().file(h);
  if (!f) {
    r.send("agent_error", proto::agent_error("unknown_handle", "no open file with handle " + std::to_string(h)));
    return;
  }
  // A private descriptor at the handle's cursor, so streaming does not move the handle.
  off_t cur = ::lseek(f->fd.get(), 0, SEEK_CUR);
  Fd fd(::open(("/proc/self/fd/" + std::to_string(f->fd.get())).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw OsError{errno, f->path};
  if (cur > 0) ::lseek(fd.get(), cur, SEEK_SET);
  pump_fd(r, fd.get(), true);
}

}  // namespace

void register_stream_ops(Registry& reg) {
  reg["tail_file"] = op_tail_file;
  reg["fd_stream"] = op_fd_stream;
}

}  // namespace provium::agent
