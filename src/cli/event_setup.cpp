#include "cli/event_setup.hpp"

#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "cli/signals.hpp"
#include "util/host.hpp"

extern char** environ;

namespace provium::cli {

EventSetup::EventSetup(const Options& o) : o_(o) {
  std::string err;
  bool saving = false;  // the --save-events file is open: --coverage reads it instead of a temp
  if (o.save_events) {
    if (auto s = events::make_file_sink(*o.save_events, true, err)) {
      bus_.add_sink(std::move(s));
      saving = true;
    } else {
      fmt::print(stderr, "provium: warning: --save-events: {}; no events will be saved\n", err);
    }
  }
  if (o.events_stdout) bus_.add_sink(events::make_stdout_sink());
  if (o.events_socket) {
    if (auto s = events::make_socket_sink(*o.events_socket, err))
      bus_.add_sink(std::move(s));
    else
      fmt::print(stderr, "provium: warning: --events-socket: {}; no events will be served\n", err);
  }
  if (o.coverage) {
    if (saving) {
      coverage_file_ = *o.save_events;  // the user's file: read, never deleted
      coverage_file_is_user_ = true;
    } else {
      coverage_file_ = fmt::format("{}/provium-coverage-{}.msgpack", util::temp_dir(), ::getpid());
      coverage_marker_ = coverage_file_ + ".marker";
      std::ofstream(coverage_marker_) << "provium --coverage temp file " << coverage_file_ << "\n";
      StopSignal::install().remove_on_forced_exit(coverage_file_);
      StopSignal::install().remove_on_forced_exit(coverage_marker_);
      if (auto s = events::make_file_sink(coverage_file_, true, err))
        bus_.add_sink(std::move(s));
      else
        fmt::print(stderr, "provium: warning: --coverage: {}\n", err);
    }
  }
}

EventSetup::~EventSetup() { remove_temp_files(); }

void EventSetup::remove_temp_files() {
  if (!coverage_file_is_user_ && !coverage_file_.empty()) {
    std::error_code ec;
    std::filesystem::remove(coverage_file_, ec);
    std::filesystem::remove(coverage_marker_, ec);
  }
}

void EventSetup::next_iteration() {
  if (iteration_++ > 0) bus_.new_iteration();
}

bool EventSetup::run_coverage() {
  if (!o_.coverage) return true;
  std::string tool = util::find_on_path("provium-coverage");
  if (tool.empty()) {
    // A build tree keeps both binaries side by side; use the sibling when PATH has none.
    std::string sibling = util::self_dir() + "/provium-coverage";
    if (::access(sibling.c_str(), X_OK) == 0) tool = sibling;
  }
  if (tool.empty()) {
    fmt::print(stderr,
               "provium: --coverage: provium-coverage was not found on PATH; install it or drop "
               "--coverage\n");
    return false;
  }
  std::fflush(stdout);
  std::fflush(stderr);
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) {
    std::string s(*e);
    if (s.starts_with("PROVIUM_COVERAGE_") || s.starts_with("PROVIUM_TEST_FILTER=")) continue;
    env_store.push_back(s);
  }
  env_store.push_back("PROVIUM_COVERAGE_TMP=" + coverage_file_);
  if (coverage_file_is_user_)
    env_store.push_back("PROVIUM_COVERAGE_USER_FILE=" + coverage_file_);
  else
    env_store.push_back("PROVIUM_COVERAGE_MARKER=" + coverage_marker_);
  std::vector<char*> envp;
  for (auto& s : env_store) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string from = coverage_file_;
  const char* argv[] = {tool.c_str(), "--from", from.c_str(), nullptr};
  pid_t pid;
  if (int rc =
          posix_spawn(&pid, tool.c_str(), nullptr, nullptr, const_cast<char**>(argv), envp.data());
      rc != 0) {
    fmt::print(stderr, "provium: --coverage: cannot run `{}`: {}\n", tool, std::strerror(rc));
    return false;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  fmt::print(stderr, "provium: --coverage: provium-coverage failed ({})\n",
             WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status))
                               : fmt::format("signal {}", WTERMSIG(status)));
  return false;
}

}  // namespace provium::cli
