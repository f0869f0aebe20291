// Kernel Same-page Merging tuning (REFERENCE §7.11): identical guest pages (every guest runs the
// same kernel and image) are merged by the host. Tuned when the first VM boots, best effort,
// with one summary line; the previous values are saved and restored by the last provium
// process using KSM when it exits (shared flock on /tmp/provium-ksm.lock; the process that
// can take it exclusively at exit restores).
#pragma once

namespace provium::vmm::qemu {

void ksm_tune_once();

}  // namespace provium::vmm::qemu
