// Agent round trips over `--vmm local` (issue #4 figures): sandbox boots, exec of /bin/true,
// read_file of 4 bytes, and read_file throughput of 64 MiB, through the same client the Lua API
// uses. Prints medians, p95 and p99 and writes JSON to the path given as the first argument
// (optional).
#include <fmt/format.h>
#include <sys/utsname.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "client/agent_client.hpp"
#include "vmm/local/local_backend.hpp"

using namespace provium;
using Clock = std::chrono::steady_clock;

namespace {

struct Stats {
  double median_ms, p95_ms, p99_ms;
};

Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
  };
  return {at(0.5), at(0.95), at(0.99)};
}

template <typename F>
std::vector<double> repeat(int n, F f) {
  std::vector<double> out;
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    f();
    out.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return out;
}

proto::Value exec_payload(std::string cmd, std::vector<std::string> args) {
  proto::Map m;
  m["cmd"] = proto::Value{cmd};
  proto::Array a;
  for (auto& s : args) a.push_back(proto::Value{s});
  m["args"] = proto::Value{std::move(a)};
  return proto::Value{std::move(m)};
}

proto::Value path_payload(const std::string& p) {
  proto::Map m;
  m["path"] = proto::Value{p};
  return proto::Value{std::move(m)};
}

}  // namespace

int main(int argc, char** argv) {
  // Optional second argument: only one figure (small, exec or big), for profiling.
  std::string only = argc > 2 ? argv[2] : "";
  auto want = [&](const char* f) { return only.empty() || only == f; };
  config::Profile profile;
  profile.name = "bench";
  vmm::BootRequest req;
  req.file = "bench";
  req.lab = "provium";
  req.vm_name = "bench";
  req.profile = &profile;
  // Sandbox boots to a handshaken agent (the shutdown is outside the timed part).
  constexpr int kBoots = 40;
  std::vector<double> boots;
  for (int i = 0; i < kBoots; ++i) {
    auto t0 = Clock::now();
    auto m = vmm::local::backend().boot(req);
    boots.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    m->shutdown();
  }
  Stats boot = stats(boots);
  auto machine = vmm::local::backend().boot(req);
  auto agent = machine->agent();
  agent->call("write_file", [] {
    proto::Map m;
    m["path"] = proto::Value{"/tmp/four"};
    m["data"] = proto::Value{proto::Bytes{"abcd"}};
    return proto::Value{std::move(m)};
  }());
  for (int i = 0; i < 20; ++i) agent->call("read_file", path_payload("/tmp/four"));  // warm up
  Stats rf{}, ex{}, big{};
  if (want("small"))
    rf = stats(repeat(2000, [&] { agent->call("read_file", path_payload("/tmp/four")); }));
  if (want("exec"))
    ex = stats(repeat(300, [&] { agent->call("exec", exec_payload("/bin/true", {})); }));
  agent->call("exec", exec_payload("/bin/sh", {"-c", "head -c 67108864 /dev/zero > /tmp/big"}));
  if (want("big")) {
    big = stats(repeat(5, [&] {
      auto r = agent->call("read_file", path_payload("/tmp/big"));
      // The figure counts only complete replies.
      proto::Value v;
      if (client::op_error(r.payload, "read_file", &v))
        throw std::runtime_error("read_file failed");
      auto* d = proto::field(v, "data").as_bytes();
      if (!d || d->data.size() != 64u << 20)
        throw std::runtime_error("read_file returned a short reply");
    }));
  }
  double mib_s = 64.0 / (big.median_ms / 1000.0);
  machine->shutdown();

  struct utsname u {};
  ::uname(&u);
  nlohmann::ordered_json j;
  j["backend"] = "local";
  j["accelerator"] = "none (local backend: no VM)";
  j["kernel"] = u.release;
  j["local_boot_ms"] = boot.median_ms;
  j["local_boot"] = {{"median_ms", boot.median_ms}, {"p95_ms", boot.p95_ms}, {"n", kBoots}};
  j["read_file_4b_ms"] = {
      {"median", rf.median_ms}, {"p95", rf.p95_ms}, {"p99", rf.p99_ms}, {"n", 2000}};
  j["exec_true_ms"] = {
      {"median", ex.median_ms}, {"p95", ex.p95_ms}, {"p99", ex.p99_ms}, {"n", 300}};
  j["read_file_64mib"] = {
      {"median_ms", big.median_ms}, {"p95_ms", big.p95_ms}, {"mib_per_s", mib_s}, {"n", 5}};
  fmt::print("local sandbox boot to agent ready   median {:6.2f} ms   p95 {:6.2f} ms (n={})\n",
             boot.median_ms, boot.p95_ms, kBoots);
  fmt::print(
      "read_file 4 B round trip            median {:6.3f} ms   p95 {:6.3f} ms   p99 {:6.3f} ms\n",
      rf.median_ms, rf.p95_ms, rf.p99_ms);
  fmt::print(
      "exec /bin/true round trip           median {:6.3f} ms   p95 {:6.3f} ms   p99 {:6.3f} ms\n",
      ex.median_ms, ex.p95_ms, ex.p99_ms);
  fmt::print("read_file 64 MiB                    median {:6.1f} ms   {:6.0f} MiB/s\n",
             big.median_ms, mib_s);
  if (argc > 1) std::ofstream(argv[1]) << j.dump(2) << "\n";
  return 0;
}
