// Writing a whole buffer to a descriptor, shared by the agent and the host: retries short
// writes and EINTR, and never raises SIGPIPE on a socket whose peer went away. Also the buffer
// for big payloads, so that touching it costs few page faults.
#pragma once

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>

#include "proto/codec.hpp"

namespace provium::proto {

/// False when the descriptor failed (errno tells why).
inline bool write_all(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w < 0 && errno == ENOTSOCK) w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

/// Writes a frame from encode_framed_refs(): its own bytes and the referenced bin bodies
/// interleaved, with gathered writes (the bodies are never copied in user space).
inline bool write_framed(int fd, const FramedRefs& f) {
  constexpr std::size_t kMaxIov = 64;
  iovec iov[kMaxIov];
  std::size_t seg = 0, n_seg = 2 * f.refs.size() + 1;
  // Segment i: even = bytes between refs, odd = a ref's data.
  auto segment = [&](std::size_t i) -> iovec {
    std::size_t r = i / 2;
    if (i % 2) return {const_cast<char*>(f.refs[r].data.data()), f.refs[r].data.size()};
    std::size_t from = r == 0 ? 0 : f.refs[r - 1].at;
    std::size_t to = r < f.refs.size() ? f.refs[r].at : f.bytes.size();
    return {const_cast<char*>(f.bytes.data() + from), to - from};
  };
  std::size_t skip = 0;  // bytes of segment `seg` already written
  while (seg < n_seg) {
    std::size_t k = 0;
    for (std::size_t i = seg; i < n_seg && k < kMaxIov; ++i) {
      iov[k] = segment(i);
      if (i == seg) {
        iov[k].iov_base = static_cast<char*>(iov[k].iov_base) + skip;
        iov[k].iov_len -= skip;
      }
      if (iov[k].iov_len) ++k;
    }
    if (k == 0) return true;
    msghdr mh{};
    mh.msg_iov = iov;
    mh.msg_iovlen = k;
    ssize_t w = ::sendmsg(fd, &mh, MSG_NOSIGNAL);
    if (w < 0 && errno == ENOTSOCK) w = ::writev(fd, iov, static_cast<int>(k));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    // Advance past what went out.
    auto left = static_cast<std::size_t>(w);
    while (left > 0 && seg < n_seg) {
      std::size_t len = segment(seg).iov_len - skip;
      if (left < len) {
        skip += left;
        left = 0;
      } else {
        left -= len;
        skip = 0;
        ++seg;
      }
    }
    while (seg < n_seg && segment(seg).iov_len == skip) {
      skip = 0;
      ++seg;
    }
  }
  return true;
}

/// A string of `n` zero bytes. Large ones are asked to live on transparent huge pages: touching
/// 64 MiB then takes a few dozen page faults instead of 16384 (the dominant cost of big
/// payloads on small VMs, where fresh memory is expensive).
inline std::string big_string(std::size_t n) {
  std::string s;
  if (n >= (4u << 20)) {
    s.reserve(n);
    auto p = reinterpret_cast<std::uintptr_t>(s.data());
    std::uintptr_t page = 4096, b = (p + page - 1) & ~(page - 1), e = (p + n) & ~(page - 1);
    if (e > b) ::madvise(reinterpret_cast<void*>(b), e - b, MADV_HUGEPAGE);
  }
  s.resize(n);
  return s;
}

}  // namespace provium::proto
