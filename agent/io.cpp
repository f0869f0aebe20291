#include "agent/io.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace provium::agent {

std::string read_whole(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw OsError{errno, path};
  // Read straight into a buffer sized from fstat (growing only for files that grow or lie,
  // like /proc): large files are copied once, not once per reallocation, into memory that
  // big_string() puts on huge pages. The reply is then written from this buffer as it is.
  struct stat st {};
  size_t cap =
      (::fstat(fd.get(), &st) == 0 && st.st_size > 0) ? static_cast<size_t>(st.st_size) + 1 : 65536;
  std::string out = proto::big_string(cap);
  size_t len = 0;
  while (true) {
    if (len == out.size()) out.resize(out.size() * 2);  // grew, or lied (/proc)
    ssize_t n = ::read(fd.get(), out.data() + len, out.size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw OsError{errno, path};
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  out.resize(len);
  return out;
}

namespace {

struct Pool {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> jobs;  // handed to idle threads, not yet picked up
  std::size_t idle = 0;                    // threads waiting for a job
};

Pool& pool() {
  static Pool* p = new Pool();  // lives for the agent's whole life (threads outlive main)
  return *p;
}

constexpr std::size_t kMaxIdle = 16;
constexpr auto kLinger = std::chrono::seconds(30);

void pooled_thread(std::function<void()> job) {
  Pool& p = pool();
  while (true) {
    job();
    job = nullptr;
    std::unique_lock lk(p.mu);
    if (p.idle >= kMaxIdle) return;
    ++p.idle;
    bool got = p.cv.wait_for(lk, kLinger, [&] { return !p.jobs.empty(); });
    --p.idle;
    if (!got) return;
    job = std::move(p.jobs.front());
    p.jobs.pop_front();
  }
}

}  // namespace

void run_detached(std::function<void()> fn) {
  Pool& p = pool();
  {
    std::lock_guard lk(p.mu);
    // Every queued job has an idle thread of its own: no request ever waits for another.
    if (p.idle > p.jobs.size()) {
      p.jobs.push_back(std::move(fn));
      p.cv.notify_one();
      return;
    }
  }
  std::thread(pooled_thread, std::move(fn)).detach();
}

}  // namespace provium::agent
