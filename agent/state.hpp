// Agent state that outlives connections (REFERENCE §6.1): the file table and the process
// table, keyed by handles that are never reused within the agent's life.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "agent/io.hpp"

namespace provium::agent {

struct OpenFile {
  std::mutex mu;  // ops on one handle run in order
  Fd fd;
  std::string path;
};

/// A process started by run_async (or exec while it runs).
struct Process {
  pid_t pid = -1;
  Fd stdin_fd;
  std::mutex mu;
  std::condition_variable cv;
  std::optional<int> wait_status;      // set by the reaper
  std::string stdout_buf, stderr_buf;  // collected output (also what streams replay)
  bool stdout_eof = false, stderr_eof = false;
  bool consumed = false;  // wait() returned: the handle is gone
};

class State {
 public:
  static State& get();

  std::int64_t add_file(std::shared_ptr<OpenFile> f);
  std::shared_ptr<OpenFile> file(std::int64_t h);
  bool remove_file(std::int64_t h);

  std::int64_t add_process(std::shared_ptr<Process> p);
  std::shared_ptr<Process> process(std::int64_t h);
  void remove_process(std::int64_t h);

  /// A fresh handle from the same counter, for tables kept elsewhere (the worker registry).
  std::int64_t reserve_handle();

  /// Called by the reaper for every child status; routes it to its Process.
  void deliver_status(pid_t pid, int status);
  /// Registers a pid so the reaper can route its status (call before the child can exit).
  void watch_pid(pid_t pid, std::shared_ptr<Process> p);

 private:
  template <typename T>
  std::int64_t insert(std::map<std::int64_t, std::shared_ptr<T>>& table, std::shared_ptr<T> v);
  template <typename T>
  std::shared_ptr<T> lookup(std::map<std::int64_t, std::shared_ptr<T>>& table, std::int64_t h);
  template <typename T>
  bool erase(std::map<std::int64_t, std::shared_ptr<T>>& table, std::int64_t h);

  std::mutex mu_;
  std::int64_t next_ = 1;
  std::map<std::int64_t, std::shared_ptr<OpenFile>> files_;
  std::map<std::int64_t, std::shared_ptr<Process>> procs_;
  std::map<pid_t, std::weak_ptr<Process>> by_pid_;
  std::map<pid_t, int> early_;  // statuses that arrived before watch_pid
};

/// Starts the single reaper thread that owns every wait call of the agent.
void start_reaper();
/// Tells the reaper a child may exist now (it idles while the agent has none).
void kick_reaper();

/// True when this agent serves a VM's guest (not a local sandbox or a worker on the host):
/// ops that act on the whole machine, like zero_free_memory, refuse anywhere else.
bool serving_vm_guest();
void set_serving_vm_guest();

}  // namespace provium::agent
