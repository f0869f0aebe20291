// Facts about the host read from /proc and sysconf.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace provium::util {

/// MemTotal from /proc/meminfo in bytes, nullopt when unreadable.
std::optional<std::uint64_t> host_memory_total();
/// Online CPUs, nullopt when unknown.
std::optional<std::uint32_t> host_online_cpus();
/// Looks `name` up on $PATH; empty when not found.
std::string find_on_path(const std::string& name);
/// First line of what `argv` prints on stdout (its stderr goes to /dev/null); "" when it
/// cannot run. For version probes only: waits for the program to exit.
std::string first_line_of_output(const std::vector<std::string>& argv);
/// Runs `argv` (argv[0] looked up on PATH) with stdin and stdout on /dev/null and waits for
/// it; returns its exit code (-1 when it could not run or died of a signal) and puts what it
/// wrote on stderr (trimmed) into `err`.
int run_command(const std::vector<std::string>& argv, std::string* err = nullptr);
/// $TMPDIR when set and non-empty, else /tmp: where provium's transient files go.
std::string temp_dir();
/// Directory of the running executable (/proc/self/exe), empty when unknown.
std::string self_dir();

}  // namespace provium::util
