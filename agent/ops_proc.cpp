// Process operations: exec (run to completion), run_async and the process handle ops, and
// proc_stream (REFERENCE §6.7). Output is drained continuously so no child blocks on a pipe.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "agent/ops.hpp"
#include "agent/spawn.hpp"
#include "proto/protocol.hpp"

namespace provium::agent {
namespace {

using proto::Value;
using Clock = std::chrono::steady_clock;

Value bin(std::string s) { return Value{proto::Bytes{std::move(s)}}; }

// Reads both pipes into the process buffers until both reach EOF. `should_stop` is polled
// every 50 ms; when it returns true the loop ends early.
template <typename Stop, typename OnData>
void pump(Process& p, Fd& out, Fd& err, Stop should_stop, OnData on_data) {
  char buf[65536];
  while (out || err) {
    pollfd fds[2] = {{out.get(), POLLIN, 0}, {err.get(), POLLIN, 0}};
    int rc = ::poll(fds, 2, 50);
    if (rc < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      Fd& fd = i == 0 ? out : err;
      if (!fd || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      std::lock_guard lk(p.mu);
      if (n <= 0) {
        fd.reset();
        (i == 0 ? p.stdout_eof : p.stderr_eof) = true;
      } else {
        (i == 0 ? p.stdout_buf : p.stderr_buf).append(buf, static_cast<size_t>(n));
        on_data(i);
      }
      p.cv.notify_all();
    }
    if (should_stop()) break;
  }
}

void kill_group(pid_t pid, int sig) {
  if (::kill(-pid, sig) != 0) ::kill(pid, sig);
}

int wait_exit(Process& p) {
  std::unique_lock lk(p.mu);
  p.cv.wait(lk, [&] { return p.wait_status.has_value(); });
  return *p.wait_status;
}

void op_exec(Request& r) {
  ExecArgs a = parse_exec_args(r.payload);
  Fd out, err;
  auto p = spawn(a, out, err);
  // Feed stdin from a helper thread so a child that writes before reading cannot deadlock us;
  // most execs have no stdin and need no thread.
  std::thread feeder;
  if (a.stdin_data.empty()) {
    p->stdin_fd.reset();
  } else {
    feeder = std::thread([&p, data = a.stdin_data] {
      write_all(p->stdin_fd.get(), data.data(), data.size());
      p->stdin_fd.reset();
    });
  }
  auto deadline = a.timeout_ms
                      ? std::optional(Clock::now() + std::chrono::milliseconds(*a.timeout_ms))
                      : std::nullopt;
  bool timed_out = false, cancelled = false;
  size_t sent_out = 0, sent_err = 0;  // bytes already shipped in exec_output frames
  pump(
      *p, out, err,
      [&] {
        if (deadline && !timed_out && Clock::now() >= *deadline) {
          timed_out = true;
          kill_group(p->pid, SIGKILL);
        }
        if (!cancelled && r.cancelled->load()) {
          cancelled = true;
          kill_group(p->pid, SIGKILL);
        }
        return false;
      },
      [&](int ch) {
        // Large outputs travel as exec_output chunks instead of one giant reply.
        std::string& b = ch == 0 ? p->stdout_buf : p->stderr_buf;
        size_t& sent = ch == 0 ? sent_out : sent_err;
        while (b.size() - sent >= proto::kExecOutputChunkBytes) {
          proto::Map m;
          m["channel"] = Value{ch == 0 ? "stdout" : "stderr"};
          m["data"] = bin(b.substr(sent, proto::kExecOutputChunkBytes));
          r.send("exec_output", Value{std::move(m)});
          sent += proto::kExecOutputChunkBytes;
        }
      });
  if (feeder.joinable()) feeder.join();
  int st = wait_exit(*p);
  if (cancelled) {
    r.reply(proto::op_err(ECANCELED, "exec cancelled"));
    return;
  }
  proto::Map ok;
  ok["status"] = exit_status_value(st, timed_out);
  ok["stdout"] = bin(p->stdout_buf.substr(sent_out));
  ok["stderr"] = bin(p->stderr_buf.substr(sent_err));
  r.reply(proto::op_ok(Value{std::move(ok)}));
}

void op_run_async(Request& r) {
  ExecArgs a = parse_exec_args(r.payload);
  if (a.timeout_ms)
    throw proto::DecodeError("run_async takes no `timeout_ms`; use wait with a timeout");
  auto out = std::make_shared<Fd>(), err = std::make_shared<Fd>();
  auto p = spawn(a, *out, *err);
  if (!a.stdin_data.empty()) write_all(p->stdin_fd.get(), a.stdin_data.data(), a.stdin_data.size());
  std::int64_t h = State::get().add_process(p);
  // The drainer keeps the pipes empty for the whole life of the process.
  std::thread([p, out, err] {
    pump(
        *p, *out, *err, [] { return false; }, [](int) {});
  }).detach();
  r.reply(proto::op_ok(Value{h}));
}

std::shared_ptr<Process> process_or_error(Request& r, std::int64_t h) {
  auto p = State::get().process(h);
  if (!p)
    r.send("agent_error",
           proto::agent_error("unknown_handle", "no process with handle " + std::to_string(h)));
  return p;
}

void op_wait(Request& r) {
  std::int64_t h = proto::int_field(r.payload, "handle");
  auto timeout = proto::opt_field(r.payload, "timeout_ms")
                     ? std::optional(proto::int_field(r.payload, "timeout_ms"))
                     : std::nullopt;
  auto p = process_or_error(r, h);
  if (!p) return;
  auto deadline =
      timeout ? std::optional(Clock::now() + std::chrono::milliseconds(*timeout)) : std::nullopt;
  bool timed_out = false;
  std::unique_lock lk(p->mu);
  auto done = [&] { return p->wait_status.has_value() && p->stdout_eof && p->stderr_eof; };
  while (!done()) {
    if (r.cancelled->load()) {
      lk.unlock();
      r.reply(proto::op_err(ECANCELED, "wait cancelled"));
      return;
    }
    if (deadline && Clock::now() >= *deadline && !timed_out) {
      timed_out = true;
      kill_group(p->pid, SIGKILL);
    }
    p->cv.wait_for(lk, std::chrono::milliseconds(50));
  }
  proto::Map ok;
  ok["status"] = exit_status_value(*p->wait_status, timed_out);
  ok["stdout"] = bin(p->stdout_buf);
  ok["stderr"] = bin(p->stderr_buf);
  p->consumed = true;
  lk.unlock();
  State::get().remove_process(h);
  r.reply(proto::op_ok(Value{std::move(ok)}));
}

void op_kill(Request& r) {
  auto p = process_or_error(r, proto::int_field(r.payload, "handle"));
  if (!p) return;
  int sig = static_cast<int>(proto::int_field(r.payload, "signal"));
  std::unique_lock lk(p->mu);
  if (p->wait_status) {
    r.reply(proto::op_err(ESRCH, "process has already exited"));
    return;
  }
  lk.unlock();
  if (::kill(-p->pid, sig) != 0 && ::kill(p->pid, sig) != 0) {
    reply_os_error(r, errno, "kill");
    return;
  }
  r.reply(proto::op_ok());
}

void op_get_pid(Request& r) {
  auto p = process_or_error(r, proto::int_field(r.payload, "handle"));
  if (p) r.reply(proto::op_ok(Value{static_cast<std::int64_t>(p->pid)}));
}

void op_stdin_write(Request& r) {
  auto p = process_or_error(r, proto::int_field(r.payload, "handle"));
  if (!p) return;
  std::string data = proto::bytes_field(r.payload, "data");
  if (!p->stdin_fd) {
    r.reply(proto::op_err(EPIPE, "stdin is closed"));
    return;
  }
  ssize_t n = ::write(p->stdin_fd.get(), data.data(), data.size());
  if (n < 0) {
    reply_os_error(r, errno, "stdin write");
    return;
  }
  proto::Map m;
  m["written"] = Value{static_cast<std::int64_t>(n)};
  r.reply(proto::op_ok(Value{std::move(m)}));
}

void op_stdin_close(Request& r) {
  auto p = process_or_error(r, proto::int_field(r.payload, "handle"));
  if (!p) return;
  p->stdin_fd.reset();
  r.reply(proto::op_ok());
}

void op_proc_status(Request& r) {
  auto p = State::get().process(proto::int_field(r.payload, "handle"));
  if (!p) {
    r.reply(proto::op_ok(Value{"unknown"}));
    return;
  }
  std::lock_guard lk(p->mu);
  r.reply(proto::op_ok(Value{p->wait_status ? "exited" : "running"}));
}

// Streams a process's output from its first byte, then follows it until EOF.
void op_proc_stream(Request& r) {
  auto p = process_or_error(r, proto::int_field(r.payload, "handle"));
  if (!p) return;
  std::string channel = proto::str_field(r.payload, "channel");
  if (channel != "stdout" && channel != "stderr")
    throw proto::DecodeError("channel must be stdout or stderr");
  bool is_out = channel == "stdout";
  auto stream = r.conn->open_stream(r.id);
  r.reply(proto::op_ok());
  size_t pos = 0;
  while (true) {
    std::string chunk;
    bool eof;
    {
      std::unique_lock lk(p->mu);
      std::string& b = is_out ? p->stdout_buf : p->stderr_buf;
      bool& e = is_out ? p->stdout_eof : p->stderr_eof;
      p->cv.wait_for(lk, std::chrono::milliseconds(50), [&] { return b.size() > pos || e; });
      chunk = b.substr(pos, proto::kStreamChunkBytes);
      pos += chunk.size();
      eof = e && pos >= b.size();
    }
    {
      std::lock_guard slk(stream->mu);
      if (stream->closed) break;
    }
    if (!chunk.empty()) {
      if (!stream->take(chunk.size())) break;
      proto::Map m;
      m["data"] = bin(std::move(chunk));
      if (!r.send("stream_frame", Value{std::move(m)})) break;
      continue;
    }
    if (eof) {
      proto::Map m;
      m["reason"] = Value{"eof"};
      r.send("stream_end", Value{std::move(m)});
      break;
    }
  }
  bool closed;
  {
    std::lock_guard slk(stream->mu);
    closed = stream->closed;
  }
  if (closed) {
    proto::Map m;
    m["reason"] = Value{"closed"};
    r.send("stream_end", Value{std::move(m)});
  }
  r.conn->close_stream(r.id);
}

}  // namespace

void register_proc_ops(Registry& reg) {
  reg["exec"] = op_exec;
  reg["run_async"] = op_run_async;
  reg["wait"] = op_wait;
  reg["kill"] = op_kill;
  reg["get_pid"] = op_get_pid;
  reg["proc_stdin_write"] = op_stdin_write;
  reg["proc_stdin_close"] = op_stdin_close;
  reg["proc_status"] = op_proc_status;
  reg["proc_stream"] = op_proc_stream;
}

}  // namespace provium::agent
