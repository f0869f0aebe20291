// One Lua state per test file: the standard library, the harness globals, the prelude, the
// interrupt hook, and protected calls that produce trimmed tracebacks.
#pragma once

#include <lua.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lua/context.hpp"

namespace provium::lua {

/// Owns a lua_State configured for one test file. Not thread-safe: one thread drives it.
class FileState {
 public:
  /// Creates the state, opens the libraries, sets package.path from `roots`, installs the
  /// harness (json, framework primitives, Lab/Vm, the global `provium`) and the prelude.
  FileState(FileContext* ctx, const std::vector<std::string>& roots);
  ~FileState();
  FileState(const FileState&) = delete;
  FileState& operator=(const FileState&) = delete;

  lua_State* L() const { return L_; }

  /// Back to the normal hook rate once an interrupt has been honoured.
  void rearm_hook();

  /// Outcome of a protected call: nullopt on success, else the error text (with a trimmed
  /// traceback for runtime errors) and whether it was the skip sentinel.
  struct CallError {
    std::string message;
    bool skip = false;
    std::string skip_reason;
    bool has_traceback = false;
    std::string traceback;  // trimmed, "" when only harness frames remained
  };

  /// Loads `path` as a chunk named `chunkname`; the function is left on the stack on success.
  std::optional<std::string> load_file(const std::string& path, const std::string& chunkname);

  /// Calls the function below its `nargs` arguments on the stack with a traceback handler.
  std::optional<CallError> pcall(int nargs, int nresults = 0);

 private:
  lua_State* L_ = nullptr;
};

/// Removes harness frames ("[C]" helpers, the "[provium]" prelude) from a Lua traceback.
std::string trim_traceback(const std::string& traceback);

}  // namespace provium::lua
