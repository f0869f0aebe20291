// Per-file state the Lua bindings reach through the lua_State's extra space: which file runs,
// its root lab, its interrupt, the configuration, and file-scope settings.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "events/bus.hpp"
#include "lab/session.hpp"
#include "net/file_network.hpp"
#include "runner/interrupt.hpp"
#include "scheduler/account.hpp"
#include "vmm/backend.hpp"

struct lua_State;

namespace provium::lua {

// The lab domain's Session (config, backend, file, root lab, network, pool, bus, fixture
// staging) plus what only the bindings use.
struct FileContext : lab::Session {
  runner::Interrupt* interrupt = nullptr;
  std::string abs_path;  // absolute path of the test file

  bool in_test = false;
  bool claim_held = false;     // one-shot, also when the claim failed
  bool claim_granted = false;  // claim_acquired was emitted: claim_released must follow
  std::uint64_t claim_memory = 0;
  std::uint32_t claim_cpus = 0;
  bool listing = false;  // `provium list --tests/--json`: inert evaluation of file scope
  std::optional<double> default_test_timeout;  // provium.timeout, seconds
  bool reset_between_tests = false;
  std::map<std::string, long long> barriers;  // name -> count fixed by the first arrival
  std::set<std::string> dependencies;         // absolute paths of required modules (--watch)

  // Fixtures (REFERENCE §8).
  std::vector<std::string> roots;          // test roots, for the fixture builds' own states
  std::vector<std::string> fixture_stack;  // fixtures being built on this thread, outermost first
  int fixture_vm_count = 0;                // names fixture:<x>#2, #3, ...
};

/// Installs `ctx` in the state's extra space (the state does not own it).
void set_context(lua_State* L, FileContext* ctx);
FileContext& context(lua_State* L);

}  // namespace provium::lua
