// Per-file state the Lua bindings reach through the lua_State's extra space: which file runs,
// its root lab, its interrupt, the configuration, and file-scope settings.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "events/bus.hpp"
#include "lab/lab.hpp"
#include "net/file_network.hpp"
#include "runner/interrupt.hpp"
#include "scheduler/account.hpp"
#include "vmm/backend.hpp"

struct lua_State;

namespace provium::fixture {
class Service;
}

namespace provium::lua {

struct FileContext {
  const config::Config* config = nullptr;
  runner::Interrupt* interrupt = nullptr;
  vmm::Backend* backend = nullptr;
  std::string file;      // path as reported (display path)
  std::string abs_path;  // absolute path of the test file
  std::shared_ptr<lab::Lab> root_lab;
  net::FileNetwork network;  // the file's network namespace and bridges (made on first use)

  bool in_test = false;
  std::shared_ptr<scheduler::Account> account;  // null: no pool (REPL, fixture build, list)
  bool claim_held = false;     // one-shot, also when the claim failed
  bool claim_granted = false;  // claim_acquired was emitted: claim_released must follow
  std::uint64_t claim_memory = 0;
  std::uint32_t claim_cpus = 0;
  events::Bus* bus = nullptr;  // may be null (no sinks)
  bool listing = false;        // `provium list --tests/--json`: inert evaluation of file scope
  std::optional<double> default_test_timeout;  // provium.timeout, seconds
  bool reset_between_tests = false;
  std::map<std::string, long long> barriers;  // name -> count fixed by the first arrival
  std::set<std::string> dependencies;         // absolute paths of required modules (--watch)

  // Fixtures (REFERENCE §8).
  std::vector<std::string> roots;         // test roots, for the fixture builds' own states
  fixture::Service* fixtures = nullptr;   // null: this run has no fixture cache
  std::vector<std::string> fixture_stack;  // fixtures being built on this thread, outermost first
  std::string snapshot_dir;               // set while building: where snapshots are staged
  nlohmann::json* recorded = nullptr;     // set while building: inputs the build used
  int fixture_vm_count = 0;               // names fixture:<x>#2, #3, ...
};

/// Installs `ctx` in the state's extra space (the state does not own it).
void set_context(lua_State* L, FileContext* ctx);
FileContext& context(lua_State* L);

}  // namespace provium::lua
