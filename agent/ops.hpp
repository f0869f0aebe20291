// Op handlers, one file per family; each registers its handlers by op kind.
#pragma once

#include <map>
#include <string>

#include "agent/server.hpp"

namespace provium::agent {

using Registry = std::map<std::string, Handler>;

void register_fs_ops(Registry& reg);      // ops_fs.cpp
void register_proc_ops(Registry& reg);    // ops_proc.cpp
void register_misc_ops(Registry& reg);    // ops_misc.cpp: clock, syscall, ioctl, read_mem
void register_stream_ops(Registry& reg);  // ops_stream.cpp: tail_file, fd_stream
void register_memory_ops(Registry& reg);  // ops_memory.cpp: zero_free_memory (before snapshots)
void register_worker_ops(Registry& reg);  // ops_worker.cpp: spawn_worker, worker_*; call last

}  // namespace provium::agent
