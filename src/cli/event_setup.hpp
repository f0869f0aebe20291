// The observability flags (--save-events, --events-stdout, --events-socket, --coverage):
// builds the event bus for a run and performs the --coverage post-step (REFERENCE §11.6-11.7).
#pragma once

#include <memory>
#include <string>

#include "cli/options.hpp"
#include "events/bus.hpp"

namespace provium::cli {

class EventSetup {
 public:
  /// Opens every requested sink. A sink that cannot be opened is reported on stderr and left
  /// out: the run itself goes on.
  explicit EventSetup(const Options& o);
  ~EventSetup();  // removes the --coverage temp file and marker
  void remove_temp_files();

  events::Bus& bus() { return bus_; }
  /// A --watch iteration starts (truncates --save-events except before the first one).
  void next_iteration();
  /// Runs `provium-coverage --from <file>`; returns false when the tool is missing or failed.
  bool run_coverage();

 private:
  const Options& o_;
  events::Bus bus_;
  int iteration_ = 0;
  std::string coverage_file_;  // what provium-coverage reads
  std::string coverage_marker_;
  bool coverage_file_is_user_ = false;
};

}  // namespace provium::cli
