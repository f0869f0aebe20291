#include "runner/suite.hpp"

#include <fmt/format.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <cstdint>
#include <thread>

namespace provium::runner {

// Per-file bookkeeping shared by the runner thread, the watchdog and the dispatcher. A file
// whose runner does not honour an interrupt within the grace period is "abandoned": its
// partial result is reported now and whatever the thread produces later is dropped.
struct Slot {
  TestFile file;
  Interrupt interrupt;
  std::mutex mu;
  std::vector<TestResult> finished;           // tests completed so far (for abandonment)
  std::optional<TestResult> running;          // the test in progress
  bool done = false;                          // result delivered (by the thread or abandonment)
  bool abandoned = false;
  scheduler::Pool::HolderId holder = 0;
  std::thread thread;
};

struct Suite::Impl : RunObserver {
  SuiteSettings settings;
  Watchdog watchdog;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<FileRunOutput> completed;
  std::map<const TestFile*, Slot*> slots_by_file;  // guarded by mu
  std::vector<std::unique_ptr<Slot>> slots;
  std::string stop_reason;

  explicit Impl(SuiteSettings s) : settings(std::move(s)) {
    if (!settings.pool)
      settings.pool = std::make_shared<scheduler::Pool>(scheduler::Amount{~0ull >> 1, ~0u >> 1});
  }

  Slot* slot_for(const TestFile& f) {
    std::lock_guard lk(mu);
    auto it = slots_by_file.find(&f);
    return it == slots_by_file.end() ? nullptr : it->second;
  }

  // RunObserver: track progress for abandonment, then forward to the user's observer.
  void file_started(const TestFile& f) override {
    if (settings.file.observer) settings.file.observer->file_started(f);
  }
  void file_blocked(const TestFile& f, std::uint64_t mem, std::uint32_t cpus, const std::string& why) override {
    if (settings.file.observer) settings.file.observer->file_blocked(f, mem, cpus, why);
  }
  void test_started(const TestFile& f, const std::string& name, const events::MetaMap& meta) override {
    if (Slot* s = slot_for(f)) {
      std::lock_guard lk(s->mu);
      if (s->done) return;  // abandoned: its late events would break "file_completed is last"
      TestResult tr;
      tr.name = name;
      tr.meta = meta;
      tr.ran = true;
      s->running = tr;
    }
    if (settings.file.observer) settings.file.observer->test_started(f, name, meta);
  }
  void test_finished(const TestFile& f, const TestResult& tr) override {
    if (Slot* s = slot_for(f)) {
      std::lock_guard lk(s->mu);
      if (s->done) return;
      s->running.reset();
      s->finished.push_back(tr);
    }
    if (settings.file.observer) settings.file.observer->test_finished(f, tr);
  }

  void deliver(Slot* slot, FileRunOutput out) {
    {
      std::lock_guard lk(slot->mu);
      if (slot->done) return;  // already abandoned
      slot->done = true;
    }
    std::lock_guard lk(mu);
    completed.push_back(std::move(out));
    cv.notify_all();
  }

  void abandon(Slot* slot) {
    FileRunOutput out;
    out.result.file = slot->file;
    {
      std::lock_guard lk(slot->mu);
      if (slot->done) return;
      slot->abandoned = true;
      out.result.tests = slot->finished;
      std::string why = slot->interrupt.message();
      if (slot->running) {
        TestResult tr = *slot->running;
        tr.status = TestStatus::Failed;
        tr.message = fmt::format("{} (the test did not stop within the grace period and was abandoned)", why);
        out.result.tests.push_back(tr);
      } else {
        out.result.chunk_error = fmt::format("{} (file scope did not stop within the grace period)", why);
      }
    }
    out.result.status = slot->interrupt.kind() == InterruptKind::RunStopped ? FileStatus::Failed
                                                                             : FileStatus::TimedOut;
    fmt::print(stderr, "provium: {}: did not stop within 5s after `{}`; abandoning it\n",
               slot->file.display, slot->interrupt.message());
    // Its charges go back to the pool now: the stuck thread must not starve the rest of the
    // run (its late releases find no holder and are ignored).
    settings.pool->remove_holder(slot->holder);
    deliver(slot, std::move(out));
  }
};

Suite::Suite(SuiteSettings settings) : impl_(std::make_shared<Impl>(std::move(settings))) {}

Suite::~Suite() = default;

bool Suite::abandoned_any() const {
  std::lock_guard lk(impl_->mu);
  for (auto& s : impl_->slots)
    if (s->abandoned) return true;
  return false;
}

void Suite::stop(const std::string& why) {
  stopped_.store(true);
  {
    std::lock_guard lk(impl_->mu);
    impl_->stop_reason = why;
  }
  impl_->watchdog.interrupt_all(InterruptKind::RunStopped, why);
  impl_->cv.notify_all();
}

SuiteOutcome Suite::run(const std::vector<TestFile>& files,
                        const std::function<void(const FileResult&)>& on_result) {
  SuiteOutcome outcome;
  auto& im = *impl_;
  auto pool = im.settings.pool;
  FileRunSettings fs = im.settings.file;
  fs.watchdog = &im.watchdog;
  fs.observer = &im;
  fs.pool = pool;
  size_t next = 0, running = 0;
  bool failed_seen = false;
  // The file a file_blocked event was last emitted for, per reason (each reported once).
  size_t blocked_pool = SIZE_MAX, blocked_psi = SIZE_MAX;
  size_t max_parallel = std::max<size_t>(1, im.settings.max_parallel);
  const scheduler::Amount overhead{scheduler::kFileOverheadBytes, 0};
  std::weak_ptr<Impl> weak = impl_;
  pool->on_release([weak] {
    if (auto im = weak.lock()) im->cv.notify_all();
  });

  std::unique_lock lk(im.mu);
  while (true) {
    bool may_dispatch = !stopped_.load() && !(im.settings.fail_fast && failed_seen);
    bool blocked = false;
    while (may_dispatch && next < files.size() && running < max_parallel) {
      // Host pressure pauses admission, but never while nothing of ours runs: a host that is
      // busy with other work must not stall the run forever.
      if (running > 0 && im.settings.psi) {
        if (im.settings.psi->over_threshold()) {
          blocked = true;
          if (blocked_psi != next) {
            blocked_psi = next;
            lk.unlock();
            im.file_blocked(files[next], overhead.memory, overhead.cpus, "psi_pressure");
            lk.lock();
          }
          break;
        }
      }
      auto holder = pool->add_holder(files[next].display);
      // (A pool smaller than one overhead is refused at startup; never wait for the impossible.)
      if (overhead.fits_in(pool->total()) && !pool->try_acquire(holder, overhead)) {
        pool->remove_holder(holder);
        blocked = true;
        if (blocked_pool != next) {
          blocked_pool = next;
          lk.unlock();
          im.file_blocked(files[next], overhead.memory, overhead.cpus, "pool_full");
          lk.lock();
        }
        break;
      }
      auto slot = std::make_unique<Slot>();
      slot->file = files[next];
      slot->holder = holder;
      Slot* sp = slot.get();
      im.slots_by_file[&sp->file] = sp;
      im.slots.push_back(std::move(slot));
      ++next;
      ++running;
      running_files_.store(running);
      lk.unlock();
      im.file_started(sp->file);
      FileRunSettings mine = fs;
      mine.pool_holder = holder;
      // The thread holds the Impl alive: an abandoned runner may outlive this call.
      sp->thread = std::thread([impl = impl_, sp, mine] {
        auto out = run_file(sp->file, mine, sp->interrupt, [impl, sp] { impl->abandon(sp); });
        impl->settings.pool->remove_holder(sp->holder);  // the overhead and anything left
        impl->deliver(sp, std::move(out));
      });
      lk.lock();
    }
    if (running == 0 && !(blocked && may_dispatch)) break;
    // Blocked admission is retried every 200 ms (PSI) or when the pool releases something.
    if (blocked)
      im.cv.wait_for(lk, std::chrono::milliseconds(200), [&] { return !im.completed.empty(); });
    else
      im.cv.wait(lk, [&] { return !im.completed.empty(); });
    while (!im.completed.empty()) {
      FileRunOutput out = std::move(im.completed.front());
      im.completed.pop_front();
      --running;
      running_files_.store(running);
      if (!out.result.passed()) failed_seen = true;
      outcome.dependencies[out.result.file.abs.string()] = out.dependencies;
      lk.unlock();
      if (im.settings.file.observer) im.settings.file.observer->file_finished(out.result);
      on_result(out.result);
      lk.lock();
      outcome.results.push_back(std::move(out.result));
    }
  }
  lk.unlock();
  // Join finished runner threads; abandoned ones are detached and never waited for.
  for (auto& sp : im.slots) {
    bool abandoned;
    {
      std::lock_guard slk(sp->mu);
      abandoned = sp->abandoned;
    }
    if (!sp->thread.joinable()) continue;
    if (abandoned) sp->thread.detach();
    else sp->thread.join();
  }
  outcome.interrupted = stopped_.load();
  if (im.settings.fail_fast && failed_seen && !outcome.interrupted) {
    for (size_t i = next; i < files.size(); ++i) {
      FileResult r;
      r.file = files[i];
      r.never_started = true;
      r.chunk_error = "skipped: --fail-fast";
      r.status = FileStatus::Failed;
      on_result(r);
      outcome.results.push_back(std::move(r));
    }
  }
  return outcome;
}

}  // namespace provium::runner
