// Facts about the host read from /proc and sysconf.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace provium::util {

/// MemTotal from /proc/meminfo in bytes, nullopt when unreadable.
std::optional<std::uint64_t> host_memory_total();
/// Online CPUs, nullopt when unknown.
std::optional<std::uint32_t> host_online_cpus();
/// Looks `name` up on $PATH; empty when not found.
std::string find_on_path(const std::string& name);
/// Directory of the running executable (/proc/self/exe), empty when unknown.
std::string self_dir();

}  // namespace provium::util
