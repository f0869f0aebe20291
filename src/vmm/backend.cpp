#include "vmm/backend.hpp"

#include "vmm/local/local_backend.hpp"

namespace provium::vmm {

// The QEMU backend registers here when it lands; until then `qemu` has none and vm:boot()
// explains that with a one-line error instead of pretending to boot.
Backend* backend_for(const std::string& choice) {
  if (choice == "local") return &local::backend();
  return nullptr;
}

}  // namespace provium::vmm
