-- Two guests on a virtual network, with faults injected between them.
--
-- `provium:bridge(name)` declares a bridge; `bridge:attach(vms)` (before boot) gives each VM a
-- NIC on it and an address in the bridge's subnet (10.213.0.0/24 here), configured in the guest
-- when it boots. Everything lives in this file's own network namespace: another file using the
-- same names never sees these guests, and nothing is left on the host afterwards.

local lan = provium:bridge("lan")
local client = provium:vm("client", "linux", { memory = "192M" })
local server = provium:vm("server", "linux", { memory = "192M" })
lan:attach({ client, server })
provium:boot() -- both at once

local SERVER = server:nic("lan"):address()

-- busybox ping's summary: how many answers came back, and the average round trip.
local function ping(count)
  local out = client:run(("ping -c %d -i 0.2 -W 1 -q %s"):format(count, SERVER)).stdout
  return tonumber(out:match("(%d+) packets received")),
    tonumber(out:match("min/avg/max = [%d.]+/([%d.]+)/"))
end

test("the guests reach each other by the addresses provium reports", function(t)
  t:assert_eq(SERVER, "10.213.0.3")
  t:assert_eq((ping(2)), 2)
end)

test("a partition cuts them off, and lifting it heals the network", function(t)
  lan:partition(client, server)
  t:assert_eq((ping(2)), 0)
  lan:unpartition(client, server)
  t:assert_eq((ping(2)), 2)
end)

test("latency on one direction shows in the round trip", function(t)
  local _, before = ping(3)
  lan:add_latency({ from = client, to = server, ms = 80 })
  local _, after = ping(3)
  lan:reset() -- every impairment and partition gone
  t:log(("round trip %.1f ms, then %.1f ms with 80 ms client -> server"):format(before, after))
  t:assert(after - before > 60, "the delay applies to every request")
end)
