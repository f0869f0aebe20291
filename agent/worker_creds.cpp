#include "agent/worker_creds.hpp"

#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>

#include "proto/protocol.hpp"

namespace provium::agent {
namespace {

// Capability names by number, as <linux/capability.h> numbers them (without the cap_ prefix).
constexpr const char* kCapNames[] = {"chown",
                                     "dac_override",
                                     "dac_read_search",
                                     "fowner",
                                     "fsetid",
                                     "kill",
                                     "setgid",
                                     "setuid",
                                     "setpcap",
                                     "linux_immutable",
                                     "net_bind_service",
                                     "net_broadcast",
                                     "net_admin",
                                     "net_raw",
                                     "ipc_lock",
                                     "ipc_owner",
                                     "sys_module",
                                     "sys_rawio",
                                     "sys_chroot",
                                     "sys_ptrace",
                                     "sys_pacct",
                                     "sys_admin",
                                     "sys_boot",
                                     "sys_nice",
                                     "sys_resource",
                                     "sys_time",
                                     "sys_tty_config",
                                     "mknod",
                                     "lease",
                                     "audit_write",
                                     "audit_control",
                                     "setfcap",
                                     "mac_override",
                                     "mac_admin",
                                     "syslog",
                                     "wake_alarm",
                                     "block_suspend",
                                     "audit_read",
                                     "perfmon",
                                     "bpf",
                                     "checkpoint_restore"};
constexpr int kKnownCaps = static_cast<int>(sizeof kCapNames / sizeof kCapNames[0]);
constexpr std::size_t kMaxGroups = 4096;

int cap_number(std::string name) {
  for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (name.starts_with("cap_")) name = name.substr(4);
  for (int i = 0; i < kKnownCaps; ++i)
    if (name == kCapNames[i]) return i;
  return -1;
}

std::uint32_t id_field(const proto::Value& v, const char* name) {
  auto i = v.as_int();
  if (!i || *i < 0 || *i > 0xfffffffeLL)
    throw proto::DecodeError(std::string("field `") + name +
                             "` must be an integer between 0 and 4294967294");
  return static_cast<std::uint32_t>(*i);
}

int last_cap() {
  int last = kKnownCaps - 1;
  if (FILE* f = std::fopen("/proc/sys/kernel/cap_last_cap", "re")) {
    if (std::fscanf(f, "%d", &last) != 1) last = kKnownCaps - 1;
    std::fclose(f);
  }
  return last;
}

std::vector<std::uint32_t> parse_list(const std::string& s) {
  std::vector<std::uint32_t> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty())
      out.push_back(static_cast<std::uint32_t>(std::strtoul(item.c_str(), nullptr, 10)));
  return out;
}

}  // namespace

WorkerCreds parse_worker_creds(const proto::Value& payload) {
  WorkerCreds c;
  auto m = payload.as_map();
  if (!m) {
    if (payload.is_null()) return c;
    throw proto::DecodeError("payload is not a map");
  }
  for (auto& [key, v] : *m) {
    if (v.is_null()) continue;
    if (key == "uid") {
      c.uid = id_field(v, "uid");
    } else if (key == "gid") {
      c.gid = id_field(v, "gid");
    } else if (key == "groups") {
      auto arr = v.as_array();
      if (!arr) throw proto::DecodeError("field `groups` must be an array of group ids");
      // The list travels as one argument of the re-exec (at most 128 KiB): a generous cap.
      if (arr->size() > kMaxGroups)
        throw proto::DecodeError("field `groups` holds at most " + std::to_string(kMaxGroups) +
                                 " group ids");
      c.groups.emplace();
      for (auto& g : *arr) c.groups->push_back(id_field(g, "groups"));
    } else if (key == "caps") {
      auto arr = v.as_array();
      if (!arr) throw proto::DecodeError("field `caps` must be an array of capability names");
      c.caps.emplace();
      for (auto& n : *arr) {
        auto s = n.as_string();
        if (!s) throw proto::DecodeError("field `caps` must be an array of capability names");
        int nr = cap_number(*s);
        if (nr < 0) throw proto::DecodeError("field `caps`: unknown capability `" + *s + "`");
        c.caps->push_back(nr);
      }
    } else if (key == "thread") {
      auto b = v.as_bool();
      if (!b) throw proto::DecodeError("field `thread` must be a boolean");
      if (*b) throw proto::DecodeError("thread workers are not supported; use a process worker");
    } else {
      throw proto::DecodeError("unknown field `" + key + "`");
    }
  }
  return c;
}

std::string encode_worker_creds(const WorkerCreds& c) {
  std::string out;
  auto list = [](const auto& xs) {
    std::string s;
    for (auto x : xs) s += (s.empty() ? "" : ",") + std::to_string(x);
    return s;
  };
  if (c.uid) out += "uid=" + std::to_string(*c.uid) + ";";
  if (c.gid) out += "gid=" + std::to_string(*c.gid) + ";";
  if (c.groups) out += "groups=" + list(*c.groups) + ";";
  if (c.caps) out += "caps=" + list(*c.caps) + ";";
  return out;
}

std::optional<WorkerCreds> decode_worker_creds(const std::string& spec) {
  WorkerCreds c;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ';')) {
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string::npos) return std::nullopt;
    std::string k = item.substr(0, eq), v = item.substr(eq + 1);
    if (k == "uid") {
      c.uid = static_cast<std::uint32_t>(std::strtoul(v.c_str(), nullptr, 10));
    } else if (k == "gid") {
      c.gid = static_cast<std::uint32_t>(std::strtoul(v.c_str(), nullptr, 10));
    } else if (k == "groups") {
      c.groups = parse_list(v);
    } else if (k == "caps") {
      c.caps.emplace();
      for (auto x : parse_list(v)) c.caps->push_back(static_cast<int>(x));
    } else {
      return std::nullopt;
    }
  }
  return c;
}

int apply_worker_creds(const WorkerCreds& c, std::string& step) {
  auto fail = [&](const char* what) {
    int err = errno;
    step = what;
    return err ? err : EINVAL;
  };
  std::set<int> keep;
  if (c.caps) keep.insert(c.caps->begin(), c.caps->end());
  // The bounding set first: dropping needs CAP_SETPCAP, which the uid change may take away.
  if (c.caps)
    for (int cap = 0; cap <= last_cap(); ++cap)
      if (!keep.count(cap) && ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
        return fail("drop bounding capabilities");
  if (c.groups) {
    std::vector<gid_t> gs(c.groups->begin(), c.groups->end());
    if (::setgroups(gs.size(), gs.data()) != 0) return fail("setgroups");
  } else if ((c.uid || c.gid) && ::setgroups(0, nullptr) != 0) {
    return fail("setgroups");
  }
  if (c.gid && ::setresgid(*c.gid, *c.gid, *c.gid) != 0) return fail("setresgid");
  if (c.caps && ::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return fail("keep capabilities");
  if (c.uid && ::setresuid(*c.uid, *c.uid, *c.uid) != 0) return fail("setresuid");
  if (c.caps) {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    for (int cap : keep) {
      auto bit = 1u << (cap % 32);
      data[cap / 32].effective |= bit;
      data[cap / 32].permitted |= bit;
      data[cap / 32].inheritable |= bit;
    }
    if (::syscall(SYS_capset, &hdr, data) != 0) return fail("capset");
    // Ambient capabilities survive exec by a non-root uid: the worker's children keep them.
    for (int cap : keep)
      if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0 && errno != EINVAL)
        return fail("raise ambient capabilities");
    ::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  }
  // A credential change makes the process non-dumpable, which turns /proc/self (fd_stream,
  // read_mem) root-owned; the worker still owns itself.
  if (!c.empty()) ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  return 0;
}

}  // namespace provium::agent
