// The on-disk form of a VM snapshot: one file, movable between machines.
//
//   "PROVIUM-SNAPSHOT-1\n" | one JSON line (the device model to restore with) | zstd stream
//
// The zstd payload is QEMU's migration stream. It is compressed while QEMU writes it into a
// pipe, and on restore decompressed straight into the pipe QEMU reads: no full-size temporary
// copy exists at any point (REFERENCE §7.7).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace provium::vmm::qemu {

/// Reads `in_fd` to EOF, compressing into `tmp_path` after the header. Throws
/// std::runtime_error (ENOSPC included) after removing the partial file. Returns bytes written.
std::uint64_t write_snapshot(int in_fd, const std::string& tmp_path, const nlohmann::json& model);

/// The header's device model; throws "not a provium snapshot" / "corrupt header" errors.
nlohmann::json read_snapshot_model(const std::string& path);

/// Decompresses the payload of `path` into `out_fd` until the end. Throws on corruption, a
/// truncated file, or when the reader goes away (EPIPE).
void stream_snapshot(const std::string& path, int out_fd);

}  // namespace provium::vmm::qemu
