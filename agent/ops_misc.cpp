// Clock, raw syscalls, ioctl and read_mem (REFERENCE §6.7). Syscall buffers travel as `bin`;
// pointer splicing writes 8-byte native-endian guest addresses into buffers or argument slots.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "agent/ops.hpp"
#include "agent/state.hpp"
#include "proto/protocol.hpp"

namespace provium::agent {
namespace {

using proto::Value;

Value bin(std::string s) { return Value{proto::Bytes{std::move(s)}}; }

std::int64_t realtime_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void set_realtime(std::int64_t ns) {
  timespec ts{};
  ts.tv_sec = ns / 1000000000;
  ts.tv_nsec = ns % 1000000000;
  if (ts.tv_nsec < 0) {
    ts.tv_nsec += 1000000000;
    ts.tv_sec -= 1;
  }
  if (::clock_settime(CLOCK_REALTIME, &ts) != 0) throw OsError{errno, "clock_settime"};
}

void op_get_time(Request& r) {
  proto::Map m;
  m["ns"] = Value{realtime_ns()};
  r.reply(proto::op_ok(Value{std::move(m)}));
}

void op_set_time(Request& r) {
  set_realtime(proto::int_field(r.payload, "ns"));
  r.reply(proto::op_ok());
}

void op_advance_clock(Request& r) {
  set_realtime(realtime_ns() + proto::int_field(r.payload, "ns"));
  r.reply(proto::op_ok());
}

void op_sleep_clock(Request& r) {
  std::int64_t ns = proto::int_field(r.payload, "ns");
  if (ns < 0) throw proto::DecodeError("ns must not be negative");
  auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(ns);
  while (std::chrono::steady_clock::now() < until) {
    if (r.cancelled->load()) {
      r.reply(proto::op_err(ECANCELED, "sleep cancelled"));
      return;
    }
    auto left = until - std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(20)));
  }
  r.reply(proto::op_ok());
}

std::vector<std::string> bufs_of(const Value& p, const char* name) {
  std::vector<std::string> out;
  if (auto v = proto::opt_field(p, name)) {
    auto arr = v->as_array();
    if (!arr) throw proto::DecodeError(std::string(name) + " must be an array of bytes");
    for (auto& b : *arr) {
      if (auto bb = b.as_bytes()) out.push_back(bb->data);
      else if (auto s = b.as_string()) out.push_back(*s);
      else throw proto::DecodeError(std::string(name) + " must be an array of bytes");
    }
  }
  return out;
}

std::vector<std::int64_t> ints_of(const Value& p, const char* name) {
  std::vector<std::int64_t> out;
  if (auto v = proto::opt_field(p, name)) {
    auto arr = v->as_array();
    if (!arr) throw proto::DecodeError(std::string(name) + " must be an array of integers");
    for (auto& e : *arr) {
      if (!e.as_int()) throw proto::DecodeError(std::string(name) + " must be an array of integers");
      out.push_back(*e.as_int());
    }
  }
  return out;
}

void write_ptr(std::string& buf, size_t offset, const void* ptr) {
  if (offset + sizeof(void*) > buf.size()) throw proto::DecodeError("pointer offset beyond the end of its buffer");
  auto addr = reinterpret_cast<std::uintptr_t>(ptr);
  std::memcpy(buf.data() + offset, &addr, sizeof addr);
}

Value out_bufs_value(const std::vector<std::string>& bufs) {
  proto::Array a;
  for (auto& b : bufs) a.push_back(bin(b));
  return Value{std::move(a)};
}

void op_syscall(Request& r) {
  std::int64_t nr = proto::int_field(r.payload, "nr");
  auto args = ints_of(r.payload, "args");
  if (args.size() > 6) throw proto::DecodeError("args holds at most 6 integers");
  args.resize(6, 0);
  auto bufs = bufs_of(r.payload, "bufs");
  auto ptrs = ints_of(r.payload, "ptrs");
  // Nested splices first (buffer addresses inside other buffers), then argument slots.
  if (auto nested = proto::opt_field(r.payload, "nested")) {
    auto arr = nested->as_array();
    if (!arr) throw proto::DecodeError("nested must be an array");
    for (auto& n : *arr) {
      auto parent = proto::int_field(n, "parent"), child = proto::int_field(n, "child");
      auto offset = proto::int_field(n, "offset");
      if (parent < 0 || child < 0 || static_cast<size_t>(parent) >= bufs.size() ||
          static_cast<size_t>(child) >= bufs.size() || offset < 0)
        throw proto::DecodeError("nested entry names a buffer that does not exist");
      write_ptr(bufs[static_cast<size_t>(parent)], static_cast<size_t>(offset), bufs[static_cast<size_t>(child)].data());
    }
  }
  if (ptrs.size() > bufs.size()) throw proto::DecodeError("ptrs has more entries than bufs");
  for (size_t i = 0; i < ptrs.size(); ++i) {
    if (ptrs[i] < 0 || ptrs[i] > 5) throw proto::DecodeError("ptrs entries must be argument slots 0..5");
    args[static_cast<size_t>(ptrs[i])] = static_cast<std::int64_t>(reinterpret_cast<std::uintptr_t>(bufs[i].data()));
  }
  errno = 0;
  long ret = ::syscall(nr, args[0], args[1], args[2], args[3], args[4], args[5]);
  int err = ret < 0 ? errno : 0;
  proto::Map m;
  m["ret"] = Value{static_cast<std::int64_t>(ret)};
  m["errno"] = Value{static_cast<std::int64_t>(err)};
  if (!bufs.empty()) m["out_bufs"] = out_bufs_value(bufs);
  r.reply(Value{std::move(m)});
}

void op_ioctl(Request& r) {
  std::int64_t h = proto::int_field(r.payload, "handle");
  auto f = State::get().file(h);
  if (!f) {
    r.send("agent_error", proto::agent_error("unknown_handle", "no open file with handle " + std::to_string(h)));
    return;
  }
  auto cmd = static_cast<unsigned long>(proto::int_field(r.payload, "cmd"));
  std::string data = proto::opt_field(r.payload, "data") ? proto::bytes_field(r.payload, "data") : std::string();
  auto bufs = bufs_of(r.payload, "bufs");
  auto offsets = ints_of(r.payload, "ptr_offsets");
  if (offsets.size() > bufs.size()) throw proto::DecodeError("ptr_offsets has more entries than bufs");
  for (size_t i = 0; i < offsets.size(); ++i) write_ptr(data, static_cast<size_t>(offsets[i]), bufs[i].data());
  std::lock_guard lk(f->mu);
  int ret = ::ioctl(f->fd.get(), cmd, data.empty() ? nullptr : data.data());
  if (ret < 0) throw OsError{errno, "ioctl"};
  proto::Map m;
  m["ret"] = Value{static_cast<std::int64_t>(ret)};
  m["out_data"] = bin(data);
  if (!bufs.empty()) m["out_bufs"] = out_bufs_value(bufs);
  r.reply(proto::op_ok(Value{std::move(m)}));
}

void op_read_mem(Request& r) {
  auto addr = proto::int_field(r.payload, "addr");
  auto len = proto::int_field(r.payload, "len");
  if (len < 0 || len > (64 << 20)) throw proto::DecodeError("len must be between 0 and 64 MiB");
  Fd fd(::open("/proc/self/mem", O_RDONLY | O_CLOEXEC));
  if (!fd) throw OsError{errno, "/proc/self/mem"};
  std::string buf(static_cast<size_t>(len), '\0');
  ssize_t n = ::pread(fd.get(), buf.data(), buf.size(), static_cast<off_t>(addr));
  if (n < 0) throw OsError{errno, "read_mem"};
  buf.resize(static_cast<size_t>(n));
  proto::Map m;
  m["bytes"] = bin(std::move(buf));
  r.reply(proto::op_ok(Value{std::move(m)}));
}

}  // namespace

void register_misc_ops(Registry& reg) {
  reg["get_time"] = op_get_time;
  reg["set_time"] = op_set_time;
  reg["advance_clock"] = op_advance_clock;
  reg["sleep_clock"] = op_sleep_clock;
  reg["syscall"] = op_syscall;
  reg["ioctl"] = op_ioctl;
  reg["read_mem"] = op_read_mem;
}

}  // namespace provium::agent
