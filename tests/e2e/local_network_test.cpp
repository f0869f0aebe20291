// Labs and networking with the local backend (REFERENCE §9, §7.9): sandboxes joined to the
// file's bridges. Two files that both name bridge `lan` and VMs `a`/`b` run at the same time
// without seeing each other's traffic; a SIGKILLed provium leaves nothing behind.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "json_support.hpp"

using namespace provium::e2e;

namespace {

const char* kConfig = "[profiles.host]\nkernel = \"/nonexistent\"\ncmdline = \"console=ttyS0\"\n";

// A UDP exchange with python3 (the sandbox sees the host's root, which has python3 but not
// necessarily ping): b answers every datagram with its own file's tag, so an answer from the
// other file's `b` (same name, same address) would show.
const char* kFileBody = R"lua(
local lan = provium:bridge("lan")
local a = provium:vm("a", "host")
local b = provium:vm("b", "host")
lan:attach({a, b})
provium:boot()
local A, B = a:nic("lan"):address(), b:nic("lan"):address()
local server = [[
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 7000))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(b"FILETAG:" + data, peer)
]]
b:write_file("/tmp/server.py", (server:gsub("FILETAG", FILE_TAG)))
b:run_async("python3 /tmp/server.py")
local function ask(vm, addr, msg)
  local r = vm:run({"python3", "-c", ([[
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.5)
for i in range(6):
    s.sendto(b"%s", ("%s", 7000))
    try:
        print(s.recvfrom(2048)[0].decode()); break
    except socket.timeout:
        pass
else:
    print("timeout")
]]):format(msg, addr)})
  return (r.stdout:gsub("%s+$", ""))
end

test("sandboxes talk over the bridge, by the addresses the API reports", function(t)
  t:assert_eq(A, "10.213.0.2"); t:assert_eq(B, "10.213.0.3")
  t:assert_contains(a:run("ip -4 addr show eth0").stdout, A .. "/24")
  t:assert_eq(ask(a, B, "TAG"), FILE_TAG .. ":TAG")
end)

test("partitions and isolation act on the sandboxes' packets", function(t)
  lan:partition(a, b)
  t:assert_eq(ask(a, B, "x"), "timeout")
  lan:unpartition(a, b)
  t:assert_eq(ask(a, B, "y"), FILE_TAG .. ":y")
  lan:isolate(b)
  t:assert(lan:is_isolated(b))
  t:assert_eq(ask(a, B, "z"), "timeout")
  lan:unisolate(b)
  t:assert_eq(ask(a, B, "w"), FILE_TAG .. ":w")
end)

test("disconnect takes the link down in the sandbox; reconnect brings it back", function(t)
  a:nic("lan"):disconnect()
  t:assert_contains(a:run("cat /sys/class/net/eth0/carrier").stdout, "0")
  t:assert_eq(ask(a, B, "d"), "timeout")
  a:nic("lan"):reconnect()
  t:assert_contains(a:run("cat /sys/class/net/eth0/carrier").stdout, "1")
  t:assert_eq(ask(a, B, "r"), FILE_TAG .. ":r")
end)

test("a latency on the bridge delays the sandboxes' packets", function(t)
  lan:add_latency({from = a, to = b, ms = 300})
  local t0 = _provium_now()
  t:assert_eq(ask(a, B, "slow"), FILE_TAG .. ":slow")
  local took = _provium_now() - t0
  lan:reset()
  t:assert(took > 0.3, ("took %.3f s"):format(took))
end)

test("this file's tag", function(t)
  -- Each file's server answers only its own file's requests: two files with the same names
  -- would mix these up if they shared a bridge.
  local mine = os.getenv("PROVIUM_E2E_TAG_" .. FILE_TAG)
  t:assert_eq(ask(a, B, mine), FILE_TAG .. ":" .. mine)
end)
)lua";

// Nothing of a provium process's networking is visible on the host.
void expect_nothing_on_the_host(const Project& p) {
  auto links = run_program({"/usr/sbin/ip", "-o", "link"}, p.dir(), environment_with({}));
  EXPECT_EQ(links.out.find("pvbr"), std::string::npos) << links.out;
  EXPECT_EQ(links.out.find("pvt"), std::string::npos) << links.out;
  auto tables = run_program({"/usr/sbin/nft", "list", "tables"}, p.dir(), environment_with({}));
  EXPECT_EQ(tables.out.find("provium_"), std::string::npos) << tables.out;
}

TEST(LocalNetwork, TwoFilesWithTheSameNamesRunTogetherWithoutInterfering) {
  Project p;
  p.write("provium.toml", kConfig);
  p.write("one.test.lua", std::string("FILE_TAG = 'ONE'\n") + kFileBody);
  p.write("two.test.lua", std::string("FILE_TAG = 'TWO'\n") + kFileBody);
  auto r = p.run({"--vmm", "local", "--no-preflight", "--no-ksm", "--cpus", "4", "--json",
                  "--save-events", "ev.msgpack"},
                 {{"PROVIUM_E2E_TAG_ONE", "from-one"}, {"PROVIUM_E2E_TAG_TWO", "from-two"}},
                 std::chrono::seconds(90));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const char* f : {"one.test.lua", "two.test.lua"}) {
    auto file = file_of(r, f);
    for (auto& t : file["tests"]) EXPECT_EQ(t["status"], "passed") << f << ": " << t.dump();
  }
  expect_nothing_on_the_host(p);
}

TEST(LocalNetwork, AKilledRunLeavesNoNamespaceBridgeOrTable) {
  Project p;
  p.write("provium.toml", kConfig);
  p.write("hold.test.lua", R"lua(
local lan = provium:bridge("lan")
local a = provium:vm("a", "host")
lan:attach(a)
provium:boot()
lan:partition_all()
test("holds", function(t)
  a:run_async("sleep 1000 # " .. os.getenv("PROVIUM_E2E_TOKEN"))
  local cap = lan:capture()  -- a tcpdump inside the file's namespace
  io.open(os.getenv("PROVIUM_E2E_READY"), "w"):close()
  _provium_sleep(60)
end)
)lua");
  std::string ready = (p.dir() / "ready").string();
  std::string token = "provium-e2e-" + p.dir().filename().string();
  Background bg(p, {"--vmm", "local", "--no-preflight", "--no-ksm", "hold.test.lua"},
                {{"PROVIUM_E2E_READY", ready}, {"PROVIUM_E2E_TOKEN", token}});
  for (int i = 0; i < 300 && !fs::exists(ready); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(fs::exists(ready)) << bg.err();
  // While it runs, its bridge lives in a namespace of its own, not on the host.
  expect_nothing_on_the_host(p);
  bg.signal(SIGKILL);
  bg.wait(std::chrono::seconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  expect_nothing_on_the_host(p);
  // No process of the run survives to keep a namespace alive: not the sandbox's own, not the
  // tcpdump inside the file's namespace (the namespace itself was held only by our descriptor).
  auto ps = run_program({"/usr/bin/pgrep", "-f", token}, p.dir(), environment_with({}));
  EXPECT_TRUE(ps.out.empty()) << "sandbox process survived: " << ps.out;
  // (Other suites' captures may run right now: only an orphan would be ours.)
  auto td =
      run_program({"/bin/sh", "-c", "ps -eo ppid=,args= | awk '$1 == 1 && /tcpdump -i pvbr/'"},
                  p.dir(), environment_with({}));
  EXPECT_TRUE(td.out.empty()) << "an orphaned tcpdump survived: " << td.out;
}

TEST(LocalNetwork, AMissingToolIsNamedWithItsPackage) {
  Project p;
  p.write("provium.toml", kConfig);
  // A PATH with ip and tc but no nft.
  fs::create_directories(p.dir() / "bin");
  for (const char* tool : {"ip", "tc"})
    fs::create_symlink(fs::path("/usr/sbin") / tool, p.dir() / "bin" / tool);
  p.write("net.test.lua", R"lua(
local lan = provium:bridge("lan")
local a = provium:vm("a", "host")
lan:attach(a)
test("boot needs nft", function(t)
  local e = tostring(t:assert_raises(function() a:boot() end))
  t:assert_contains(e, "`nft` not found on PATH (install it: apt-get install nftables)")
  t:assert_eq(a:state(), "created")
end)
)lua");
  auto r =
      p.run({"--vmm", "local", "--no-preflight", "--no-ksm", "--json", "net.test.lua"},
            {{"PATH", (p.dir() / "bin").string() + ":/usr/bin:/bin"}}, std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST(LocalNetwork, RoutesAreRecordedInTheGraphOnlyWithOneWarning) {
  Project p;
  p.write("provium.toml", kConfig);
  p.write("r.test.lua", R"lua(
local lan, wan, dmz = provium:bridge("lan"), provium:bridge("wan"), provium:bridge("dmz")
local names = table.concat(provium:bridge_names(), ",")
test("routes", function(t)
  lan:route(wan)
  lan:route({"dmz", wan})
  t:assert_eq(table.concat(lan:routes(), ","), "wan,dmz")
  t:assert_eq(#wan:routes(), 0)
  t:assert_eq(names, "dmz,lan,wan")
  t:assert(provium:bridge("lan") == lan, "a test finds the file's bridge by name")
  t:assert_contains(tostring(t:assert_raises(function() lan:route(42) end)), "expected a Bridge")
end)
)lua");
  auto r = p.run({"--vmm", "local", "--no-preflight", "--no-ksm", "r.test.lua"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  size_t n = 0;
  for (size_t at = r.err.find("recorded in the lab graph only"); at != std::string::npos;
       at = r.err.find("recorded in the lab graph only", at + 1))
    ++n;
  EXPECT_EQ(n, 1u) << r.err;
}

// A loopback-only service on the host: answers every connection with a greeting.
class HostService {
 public:
  HostService() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (true) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        const char msg[] = "hello from the host\n";
        (void)!::write(c, msg, sizeof msg - 1);
        ::close(c);
      }
    });
  }
  ~HostService() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

TEST(LocalNetwork, AnUplinkReachesTheHostsLoopbackServicesAndNothingElse) {
  HostService svc;
  Project p;
  p.write("provium.toml", kConfig);
  p.write("up.test.lua", R"lua(
local lan = provium:bridge("lan")
local a = provium:vm("a", "host")
lan:attach(a)
provium:boot()
local function fetch(host, port)
  local r = a:run({"python3", "-c", ([[
import socket
try:
    s = socket.create_connection(("%s", %s), timeout=2)
    print(s.recv(100).decode().strip())
except OSError as e:
    print("error:", e)
]]):format(host, port)})
  return (r.stdout:gsub("%s+$", ""))
end
local port = os.getenv("PROVIUM_E2E_PORT")
test("no uplink: the host is out of reach", function(t)
  t:assert_contains(fetch(lan:gateway(), port), "error:")
end)
test("with an uplink: the gateway's ports are the host's loopback ports", function(t)
  lan:enable_uplink()
  t:assert_eq(lan:gateway(), "10.213.0.1")
  t:assert_eq(fetch(lan:gateway(), port), "hello from the host")
  -- Nothing beyond the gateway: no route leads out of the file's namespace.
  t:assert_contains(fetch("192.0.2.1", port), "error:")
  lan:disable_uplink()
  t:assert_contains(fetch(lan:gateway(), port), "error:")
end)
)lua");
  auto r = p.run({"--vmm", "local", "--no-preflight", "--no-ksm", "--json", "up.test.lua"},
                 {{"PROVIUM_E2E_PORT", std::to_string(svc.port())}}, std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto file = file_of(r, "up.test.lua");
  for (auto& t : file["tests"]) EXPECT_EQ(t["status"], "passed") << t.dump();
}

}  // namespace
