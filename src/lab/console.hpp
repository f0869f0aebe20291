// A VM's console (REFERENCE §5.9): the backend writes everything the guest prints to a log
// file (kept across resets); `expect` scans only the bytes after a cursor, `follow` feeds a
// stream from the log as it grows, `write_console` types into the console socket.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "client/agent_client.hpp"
#include "lab/vm.hpp"

namespace provium::lab {

/// Bytes of the log at `path` from `offset` on (at most `cap`); "" when unreadable.
std::string read_console_log(const std::string& path, std::uint64_t offset,
                             std::size_t cap = 1 << 20);
std::uint64_t console_log_size(const std::string& path);

/// Waits until `needle` appears in the log after `cursor`; returns the offset just past it.
/// Throws Error on timeout ("console:expect timed out waiting for `x`") or with the text
/// `interrupted` returns (non-empty) when the test is cut short.
std::uint64_t expect_in_console(const std::string& path, std::uint64_t cursor,
                                const std::string& needle, double timeout_s,
                                const std::function<std::string()>& interrupted);

/// Feeds `ch` with the log's bytes from the current end on, from a thread of its own, until
/// the channel is closed or the VM stops (or its machine changes).
void follow_console(const std::weak_ptr<Vm>& vm, const std::string& path,
                    const std::shared_ptr<client::StreamChannel>& ch);

/// Sends `data` to the console socket at `socket_path`; returns the bytes taken within
/// `timeout_s` (0 = no limit). Throws Error when the socket cannot be reached.
std::size_t write_console(const std::string& socket_path, const std::string& data,
                          double timeout_s);

}  // namespace provium::lab
