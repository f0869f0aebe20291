#include "vmm/backend.hpp"

#include "vmm/local/local_backend.hpp"
#include "vmm/qemu/qemu_backend.hpp"

namespace provium::vmm {

Backend* backend_for(const std::string& choice, const BackendSettings& settings) {
  if (choice == "local") return &local::backend();
  if (choice == "qemu") return &qemu::backend(settings);
  return nullptr;
}

}  // namespace provium::vmm
