// The error the domain layers throw: one line saying what failed and, where there is one, the
// fix. Bindings and the CLI show what() as it is.
#pragma once

#include <stdexcept>

namespace provium {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace provium
