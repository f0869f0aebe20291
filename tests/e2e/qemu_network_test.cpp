// Labs and networking with real guests (REFERENCE §9): three QEMU guests on one bridge in the
// file's own network namespace. Every check uses real packets: pings by the addresses the API
// reports, partitions seen from both ends and in captures, latency and loss measured by ping,
// a bandwidth limit measured by a transfer. After the run nothing of ours is left on the host.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "events_test_util.hpp"
#include "json_support.hpp"
#include "qemu_support.hpp"

using namespace provium::e2e;

namespace {

// Helpers the test file uses: ping statistics and a tiny pcap reader.
const char* kNetLib = R"lua(
local M = {}

-- busybox ping: returns received count and the average round trip in ms (nil when none).
function M.ping(vm, addr, count, interval)
  local r = vm:run(("ping -c %d -i %s -W 1 -q %s"):format(count, interval or "0.2", addr))
  local rx = tonumber(r.stdout:match("(%d+) packets received")) or 0
  local avg = tonumber(r.stdout:match("min/avg/max = [%d.]+/([%d.]+)/"))
  return rx, avg, r
end

-- ICMP packets in a classic pcap: list of {src=, dst=, type=} (type 8 request, 0 reply).
function M.icmp(pcap)
  local out = {}
  assert(#pcap >= 24, "pcap shorter than its header")
  local pos = 25
  while pos + 16 <= #pcap + 1 do
    local incl = string.unpack("<I4", pcap, pos + 8)
    local frame = pcap:sub(pos + 16, pos + 16 + incl - 1)
    pos = pos + 16 + incl
    if #frame >= 34 and string.unpack(">I2", frame, 13) == 0x0800 and frame:byte(24) == 1 then
      local function ip(at) return ("%d.%d.%d.%d"):format(frame:byte(at, at + 3)) end
      out[#out + 1] = {src = ip(27), dst = ip(31), type = frame:byte(35)}
    end
  end
  return out
end

function M.count(list, f)
  local n = 0
  for _, p in ipairs(list) do if f(p) then n = n + 1 end end
  return n
end

return M
)lua";

const char* kNetTest = R"lua(
local net = require("netlib")
local lan = provium:bridge("lan")
local a = provium:vm("a", "linux", {memory = "192M"})
local b = provium:vm("b", "linux", {memory = "192M"})
local c = provium:vm("c", "linux", {memory = "192M"})
lan:attach({a, b, c})
provium:boot()
local A, B, C = a:nic("lan"):address(), b:nic("lan"):address(), c:nic("lan"):address()

test("addresses come from the bridge's subnet and guests reach each other", function(t)
  t:assert_eq(lan:subnet(), "10.213.0.0/24")
  t:assert_eq(A, "10.213.0.2"); t:assert_eq(B, "10.213.0.3"); t:assert_eq(C, "10.213.0.4")
  t:assert_eq(a:nic("eth0"):mac(), a:nic("lan"):mac())
  t:assert_contains(a:run("ip -4 addr show eth0").stdout, A .. "/24")
  for _, pair in ipairs({{a, B}, {b, C}, {c, A}}) do
    local rx = net.ping(pair[1], pair[2], 2)
    t:assert_eq(rx, 2, pair[1]:name() .. " -> " .. pair[2])
  end
  local n = b:nic("lan"):counters()
  t:assert(n.rx_packets > 0 and n.tx_packets > 0, "counters count the pings")
end)

test("a capture of a ping holds its ICMP packets", function(t)
  local cap = lan:capture()
  net.ping(a, B, 3)
  local size = cap:save(os.getenv("PROVIUM_TEST_OUT") .. "/ping.pcap")
  t:assert(size > 24)
  local pk = net.icmp(cap:bytes())
  t:assert_eq(net.count(pk, function(p) return p.src == A and p.dst == B and p.type == 8 end), 3)
  t:assert_eq(net.count(pk, function(p) return p.src == B and p.dst == A and p.type == 0 end), 3)
end)

test("a symmetric partition stops traffic both ways; unpartition restores it", function(t)
  lan:partition(a, b)
  t:assert(lan:is_partitioned(a, b) and lan:is_partitioned(b, a))
  t:assert_eq((net.ping(a, B, 2)), 0)
  t:assert_eq((net.ping(b, A, 2)), 0)
  t:assert_eq((net.ping(a, C, 2)), 2, "other pairs are untouched")
  lan:unpartition(a, b)
  t:assert_eq((net.ping(a, B, 2)), 2)
end)

test("a directional partition drops only the named direction", function(t)
  -- Static neighbours: ARP replies must not be what the partition drops.
  a:run(("ip neigh replace %s lladdr %s dev eth0 nud permanent"):format(B, b:nic("lan"):mac()))
  b:run(("ip neigh replace %s lladdr %s dev eth0 nud permanent"):format(A, a:nic("lan"):mac()))
  lan:partition({from = a, to = b})
  t:assert(lan:is_partitioned(a, b)); t:assert(not lan:is_partitioned(b, a))
  local at_a, at_b = a:nic("lan"):capture(), b:nic("lan"):capture()
  t:assert_eq((net.ping(b, A, 3)), 0, "a's replies to b are dropped")
  t:assert_eq((net.ping(a, B, 3)), 0, "a's requests to b are dropped")
  at_a:close(); at_b:close()
  local to_a, to_b = net.icmp(at_a:bytes()), net.icmp(at_b:bytes())
  t:assert_eq(net.count(to_a, function(p) return p.src == B and p.type == 8 end), 3,
              "b's requests reached a")
  t:assert_eq(net.count(to_b, function(p) return p.src == A end), 0, "nothing from a reached b")
  lan:unpartition({from = a, to = b})
  t:assert_eq((net.ping(a, B, 2)), 2)
end)

test("latency: whole bridge adds it on both legs, directional on one", function(t)
  local _, base = net.ping(a, B, 5)
  lan:add_latency(100)
  t:assert_eq(lan:latency_ms(), 100)
  local _, both = net.ping(a, B, 5)
  lan:add_latency(0)
  lan:add_latency({from = a, to = b, ms = 100})
  local _, one = net.ping(a, B, 5)
  lan:reset()
  t:log(("rtt base %.1f ms, whole-bridge 100 ms %.1f ms, a->b 100 ms %.1f ms"):format(base, both, one))
  t:assert(both - base > 170 and both - base < 320, "about +200 ms")
  t:assert(one - base > 80 and one - base < 200, "about +100 ms")
end)

test("loss: 50 % on one direction loses about half of 200 pings", function(t)
  lan:directional_drop_rate({from = a, to = b, p = 50})
  local rx = net.ping(a, B, 200, "0.02")
  lan:reset()
  t:log(("%d of 200 answered"):format(rx))
  t:assert(rx >= 65 and rx <= 135, "about 100 of 200")
  lan:drop_rate(50)  -- both legs: about a quarter of round trips survive
  t:assert_eq(lan:drop_rate_pct(), 50)
  rx = net.ping(a, B, 200, "0.02")
  lan:reset()
  t:log(("%d of 200 answered with 50 %% on every leg"):format(rx))
  t:assert(rx >= 20 and rx <= 85, "about 50 of 200")
end)

test("a bandwidth limit caps a measured transfer", function(t)
  b:run_async("nc -l -p 5001 > /dev/null")
  b:run("sleep 0.3")
  local t0 = _provium_now()
  a:run(("dd if=/dev/zero bs=1024 count=128 2>/dev/null | nc -w 5 %s 5001"):format(B))
  local free = _provium_now() - t0
  lan:bandwidth_limit(1000000)  -- 1 Mbit/s towards each guest
  t:assert_eq(lan:bandwidth_bps(), 1000000)
  b:run_async("nc -l -p 5002 > /dev/null")
  b:run("sleep 0.3")
  t0 = _provium_now()
  a:run(("dd if=/dev/zero bs=1024 count=128 2>/dev/null | nc -w 10 %s 5002"):format(B))
  local limited = _provium_now() - t0
  lan:reset()
  t:log(("128 KiB: %.2f s unlimited, %.2f s at 1 Mbit/s"):format(free, limited))
  -- 128 KiB at 1 Mbit/s takes at least ~1 s.
  t:assert(limited > 0.9, "the limit slowed the transfer")
  t:assert(limited > free * 1.5, "the limit, not the guest, set the pace")
end)

test("a directional bandwidth limit slows only the path it names", function(t)
  local function send(from, port)
    b:run_async(("nc -l -p %d > /dev/null"):format(port))
    b:run("sleep 0.3")
    local t0 = _provium_now()
    from:run(("dd if=/dev/zero bs=1024 count=128 2>/dev/null | nc -w 10 %s %d"):format(B, port))
    return _provium_now() - t0
  end
  lan:bandwidth_limit({from = a, to = b, bps = 1000000})
  local slow, other = send(a, 5003), send(c, 5004)
  lan:reset()
  t:log(("128 KiB a->b %.2f s (limited), c->b %.2f s"):format(slow, other))
  t:assert(slow > 0.9, "a's path is limited")
  t:assert(other < slow / 2, "c's path to the same guest is not")
end)

test("disconnect takes the guest's link down; reconnect brings it back", function(t)
  local nic = a:nic("lan")
  nic:disconnect()
  t:assert_eq(a:run("cat /sys/class/net/eth0/carrier").stdout, "0\n")
  t:assert_eq((net.ping(a, B, 1)), 0)
  nic:reconnect()
  t:assert_eq(a:run("cat /sys/class/net/eth0/carrier").stdout, "1\n")
  t:assert(wait_until(function() return (net.ping(a, B, 1)) == 1 end, {timeout = 10}))
end)

test("bad input is refused and changes nothing", function(t)
  local function err(f) return tostring(t:assert_raises(f)) end
  t:assert_contains(err(function() lan:add_latency(-1) end), "must be a finite number >= 0")
  t:assert_contains(err(function() lan:add_latency(0 / 0) end), "must be a finite number >= 0")
  t:assert_contains(err(function() lan:drop_rate(150) end), "above 100%")
  t:assert_contains(err(function() lan:bandwidth_limit(0) end), "would stop all traffic")
  t:assert_contains(err(function() lan:partition(a, "nobody") end), "no vm `nobody` is attached")
  local d = provium:vm("d", "linux")
  t:assert_contains(err(function() lan:partition(a, d) end), "is not attached to bridge `lan`")
  t:assert_contains(err(function() lan:attach(a) end), "already booted")
  t:assert_contains(err(function() a:nic("wan") end), "has no NIC `wan`")
  t:assert_eq(lan:latency_ms(), 0); t:assert_eq(lan:drop_rate_pct(), 0)
  t:assert_eq((net.ping(a, B, 1)), 1)
end)
)lua";

TEST(QemuNetwork, ThreeGuestsOnABridge) {
  Project p;
  p.write("provium.toml", linux_profile_toml());
  p.write("netlib.lua", kNetLib);
  p.write("net.test.lua", kNetTest);
  auto r =
      p.run({"--cpu-overcommit", "4", "-v", "--json", "net.test.lua"},
            {{"PROVIUM_BUILD_DIR", PROVIUM_GUEST_CACHE}, {"PROVIUM_TEST_OUT", p.dir().string()}},
            std::chrono::seconds(300));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto file = file_of(r, "net.test.lua");
  for (auto& t : file["tests"]) {
    EXPECT_EQ(t["status"], "passed") << t.dump();
    for (auto& l : t["log"]) std::cerr << "    " << l.get<std::string>() << "\n";
  }
  EXPECT_GT(fs::file_size(p.dir() / "ping.pcap"), 24u);
  // Nothing of ours on the host: devices and tables lived in the file's namespace.
  auto links = run_program({"/usr/sbin/ip", "-o", "link"}, p.dir(), environment_with({}));
  EXPECT_EQ(links.out.find("pvbr"), std::string::npos) << links.out;
  EXPECT_EQ(links.out.find("pvt"), std::string::npos) << links.out;
  auto tables = run_program({"/usr/sbin/nft", "list", "tables"}, p.dir(), environment_with({}));
  EXPECT_EQ(tables.out.find("provium_"), std::string::npos) << tables.out;
}

TEST(QemuNetwork, TwoFilesWithTheSameNamesAtOnceNeverMeet) {
  Project p;
  p.write("provium.toml", linux_profile_toml());
  // Same bridge, VM names and addresses in both files; each file's `b` serves its own tag.
  for (const char* tag : {"one", "two"})
    p.write(std::string(tag) + ".test.lua", fmt::format(R"lua(
local lan = provium:bridge("lan")
local a = provium:vm("a", "linux", {{memory = "192M"}})
local b = provium:vm("b", "linux", {{memory = "192M"}})
lan:attach({{a, b}})
provium:boot()
test("a reaches its own file's b", function(t)
  local B = b:nic("lan"):address()
  t:assert_eq(B, "10.213.0.3")
  b:run_async("while true; do echo {0} | nc -l -p 7000; done")
  t:assert(wait_until(function()
    return a:run("nc -w 2 " .. B .. " 7000").stdout == "{0}\n"
  end, {{timeout = 20, interval = 0.3}}))
  _provium_sleep(1)  -- overlap with the other file
  t:assert_eq(a:run("nc -w 2 " .. B .. " 7000").stdout, "{0}\n")
end)
)lua",
                                                        tag));
  auto r = p.run({"--cpu-overcommit", "4", "--no-ksm", "--json", "--save-events", "ev.bin"},
                 {{"PROVIUM_BUILD_DIR", PROVIUM_GUEST_CACHE}}, std::chrono::seconds(300));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // They really overlapped: four guests were alive at once.
  int live = 0, peak = 0;
  for (auto& f : obs::decode_frames(p, "ev.bin")) {
    if (f["kind"] == "vm_spawned") peak = std::max(peak, ++live);
    if (f["kind"] == "vm_shutdown") --live;
  }
  EXPECT_EQ(peak, 4);
}

TEST(QemuNetwork, LabSnapshotsKeepBridgesAddressesPartitionsAndImpairments) {
  Project p;
  p.write("provium.toml", linux_profile_toml());
  p.write("snap.test.lua", R"lua(
local lab = provium:lab("net")
local lan = lab:bridge("lan", {subnet = "10.9.8.0/24"})
local a = lab:vm("a", "linux", {memory = "192M"})
local b = lab:vm("b", "linux", {memory = "192M"})
lan:attach({a, b})
lab:boot()
test("a restored lab talks again, with its rules", function(t)
  local B = b:nic("lan"):address()
  t:assert_eq(B, "10.9.8.3")
  t:assert_contains(a:run("ping -c 1 -W 2 " .. B).stdout, "1 packets received")
  lan:add_latency(50)
  lan:partition({from = b, to = a})
  local snap = lab:snapshot()
  lab:shutdown()
  local copy = provium:lab("copy")
  copy:restore(snap)
  local clan = copy:bridge("lan")
  local ca, cb = copy:vm("a"), copy:vm("b")
  t:assert_eq(clan:subnet(), "10.9.8.0/24")
  t:assert_eq(clan:latency_ms(), 50)
  t:assert(clan:is_partitioned(cb, ca), "the directional partition came back")
  t:assert_eq(cb:nic("lan"):address(), B)
  t:assert_eq((ca:run("ping -c 2 -W 1 -q " .. B).stdout:match("(%d+) packets received")), "0")
  clan:unpartition({from = cb, to = ca})
  local r = ca:run("ping -c 3 -W 2 -q " .. B)
  t:assert_contains(r.stdout, "3 packets received")
  local avg = tonumber(r.stdout:match("min/avg/max = [%d.]+/([%d.]+)/"))
  t:log(("rtt after restore %.1f ms"):format(avg))
  t:assert(avg > 90, "the 50 ms on each leg came back")
end)
)lua");
  auto r = run_qemu(p, {"-v", "--json", "snap.test.lua"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST(QemuNetwork, LabFixturesBringTheirNetworkBack) {
  Project p;
  p.write("provium.toml", "[provium]\nroots = [\".\"]\n" + linux_profile_toml());
  p.write("fixtures/net.fixture.lua", R"lua(
local lan = provium:bridge("lan")
local a = provium:vm("a", "linux", {memory = "192M"})
local b = provium:vm("b", "linux", {memory = "192M"})
lan:attach({a, b})
provium:boot()
lan:partition({from = a, to = b})
return provium:snapshot()
)lua");
  p.write("use.test.lua", R"lua(
local pair = lab_fixture("fixtures/net")
test("the fixture's guests keep their addresses and rules", function(t)
  local lan = pair:bridge("lan")
  local B = pair.b:nic("lan"):address()
  t:assert_eq(B, "10.213.0.3")
  t:assert(lan:is_partitioned(pair.a, pair.b))
  t:assert_contains(pair.a:run("ping -c 1 -W 1 " .. B).stdout, "0 packets received")
  lan:unpartition({from = pair.a, to = pair.b})
  -- At least one reply: under a loaded CI host a TCG guest can stall past a ping's wait
  -- (CI once saw 1 of 2 come back, the first in 33 ms); loss itself is tested elsewhere.
  local out = pair.a:run("ping -c 3 -W 3 " .. B).stdout
  local got = tonumber(out:match("(%d+) packets received"))
  t:assert(got and got >= 1, "traffic flows again after unpartition: " .. out)
end)
)lua");
  auto r = run_qemu(p, {"-v", "use.test.lua"}, 300);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // A second run restores from the cache, network included.
  r = run_qemu(p, {"-v", "use.test.lua"}, 300);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

}  // namespace
