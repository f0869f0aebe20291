// Fixtures from C++ callers outside a test file's Lua (provium fixture build/rebuild).
#pragma once

#include <string>

#include "fixture/service.hpp"
#include "lua/context.hpp"

namespace provium::lua {

/// The installed entry for fixture `name`, built in its own Lua state when needed (`force`:
/// always). `ctx` supplies config, backend, interrupt, roots and the fixture service. Throws
/// std::runtime_error with the whole message (the fixture's error and traceback included),
/// prefixed by `what`.
fixture::Obtained obtain_fixture(FileContext& ctx, const std::string& name, const char* what,
                                 bool force);

}  // namespace provium::lua
