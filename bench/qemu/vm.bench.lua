-- QEMU backend benchmark: cold boot, snapshot, restore and vm:run("true") on the `linux`
-- profile. Run by bench/qemu/run.sh (which copies this file to a temporary `*.test.lua` so
-- provium will run it; it is never part of a test suite). Nothing here asserts a timing: every
-- figure is emitted as one `BENCH {json}` log line and aggregated by bench/qemu/aggregate.py.
--
-- Clock: _provium_now() (the only clock the prelude gives Lua; system_clock, microsecond
-- resolution). Environment: PROVIUM_BENCH_REPS (boots/snapshots/restores, default 7),
-- PROVIUM_BENCH_RUNS (vm:run("true") calls, default 200), PROVIUM_BENCH_SNAPDIR (where
-- snapshots are written, default TMPDIR).

local REPS = tonumber(os.getenv("PROVIUM_BENCH_REPS") or "") or 5
local RUNS = tonumber(os.getenv("PROVIUM_BENCH_RUNS") or "") or 200
local SNAPDIR = os.getenv("PROVIUM_BENCH_SNAPDIR") or os.getenv("TMPDIR") or "/tmp"
local MEM = "256M"

local function emit(t, what, fields)
  fields.what = what
  t:log("BENCH " .. json.encode(fields))
end

local function timed(fn)
  local t0 = _provium_now()
  local r = fn()
  return _provium_now() - t0, r
end

-- The guest's own view of its boot: uptime when the agent answered, the kernel's timestamp
-- for handing over to init, and the last kernel message before the agent's first request.
local function guest_boot_facts(vm)
  local facts = {}
  local up = vm:read_file("/proc/uptime")
  facts.guest_uptime_s = tonumber(up:match("^(%S+)"))
  local d = vm:run("dmesg")
  if d.exit_code == 0 then
    local out = d.stdout
    facts.dmesg_lines = select(2, out:gsub("\n", ""))
    facts.kernel_init_s = tonumber(out:match("%[%s*([%d%.]+)%]%s+Run %S+ as init process"))
    facts.freeing_initmem_s = tonumber(out:match("%[%s*([%d%.]+)%]%s+Freeing unused kernel image"))
    facts.unpack_initramfs_s = tonumber(out:match("%[%s*([%d%.]+)%]%s+Trying to unpack rootfs"))
    local last = nil
    for ts in out:gmatch("%[%s*([%d%.]+)%]") do last = tonumber(ts) end
    facts.last_dmesg_s = last
  end
  return facts
end

local function console_bytes(vm)
  local sock = vm:console_socket_path()
  if not sock then return nil end
  local f = io.open((sock:gsub("console%.sock$", "console.log")), "rb")
  if not f then return nil end
  local n = f:seek("end")
  f:close()
  return n
end

local function console_head(vm)
  local sock = vm:console_socket_path()
  if not sock then return nil end
  local f = io.open((sock:gsub("console%.sock$", "console.log")), "rb")
  if not f then return nil end
  local head = f:read(160)
  f:close()
  return head
end

test("cold boot to agent ready", { timeout = "15m" }, function(t)
  for i = 1, REPS do
    local vm = provium:vm("cold" .. i, "linux", { memory = MEM })
    local t0 = _provium_now()
    local dt = timed(function() vm:boot() end)
    local facts = guest_boot_facts(vm)
    facts.i = i
    facts.boot_s = dt
    facts.console_bytes = console_bytes(vm)
    facts.t0 = t0
    facts.scratch = (vm:console_socket_path() or ""):match("([^/]+)/console%.sock$")
    if i == 1 then facts.console_head = console_head(vm) end
    emit(t, "boot", facts)
    local sd = timed(function() vm:shutdown() end)
    emit(t, "shutdown", { i = i, shutdown_s = sd })
  end
end)

-- The two boots below explain where boot time goes; PROVIUM_BENCH_BREAKDOWN=0 skips them.
local breakdown_test = os.getenv("PROVIUM_BENCH_BREAKDOWN") ~= "0" and test or function() end

-- For the breakdown only: one boot without `quiet`, so the console shows what the kernel does.
breakdown_test("cold boot, verbose console (breakdown only)", { timeout = "5m" }, function(t)
  local vm = provium:vm("verbose", "linux", { memory = MEM })
  local t0 = _provium_now()
  local dt = timed(function()
    vm:boot({ kernel_cmdline = "loglevel=7 panic=-1 console=ttyS0" })
  end)
  local facts = guest_boot_facts(vm)
  facts.boot_s = dt
  facts.t0 = t0
  facts.scratch = (vm:console_socket_path() or ""):match("([^/]+)/console%.sock$")
  facts.console_head = console_head(vm)
  facts.console_bytes = console_bytes(vm)
  emit(t, "boot_verbose", facts)
  local d = vm:run("dmesg")
  -- The slowest gaps between consecutive kernel messages: where the kernel spends its time.
  local prev_ts, prev_msg, gaps = nil, nil, {}
  for ts, msg in d.stdout:gmatch("%[%s*([%d%.]+)%]%s*([^\n]*)") do
    ts = tonumber(ts)
    if prev_ts then gaps[#gaps + 1] = { gap_s = ts - prev_ts, from = prev_msg, to = msg, at_s = ts } end
    prev_ts, prev_msg = ts, msg
  end
  table.sort(gaps, function(a, b) return a.gap_s > b.gap_s end)
  local top = {}
  for k = 1, math.min(8, #gaps) do top[k] = gaps[k] end
  emit(t, "dmesg_gaps", { gaps = top })
  vm:shutdown()
end)

-- For the breakdown only: which initcalls the kernel spends its boot in (KERN_DEBUG lines reach
-- dmesg, not the quiet console, so the boot is not slowed by printing them).
breakdown_test("cold boot, initcall_debug (breakdown only)", { timeout = "5m" }, function(t)
  local vm = provium:vm("initcalls", "linux", { memory = MEM })
  local dt = timed(function() vm:boot({ kernel_cmdline_append = "initcall_debug" }) end)
  local facts = guest_boot_facts(vm)
  facts.boot_s = dt
  emit(t, "boot_initcall_debug", facts)
  local d = vm:run("dmesg")
  local calls, total = {}, 0
  for fn, us in d.stdout:gmatch("initcall (%S+) returned %-?%d+ after (%d+) usecs") do
    calls[#calls + 1] = { fn = fn, s = tonumber(us) / 1e6 }
    total = total + tonumber(us) / 1e6
  end
  table.sort(calls, function(a, b) return a.s > b.s end)
  local top = {}
  for k = 1, math.min(12, #calls) do top[k] = calls[k] end
  emit(t, "initcalls", { count = #calls, total_s = total, top = top })
  vm:shutdown()
end)

test("snapshot and restore", { timeout = "15m" }, function(t)
  local vm = provium:vm("snap", "linux", { memory = MEM })
  vm:boot()
  vm:run("true"):assert_ok()
  for i = 1, REPS do
    local path = ("%s/provium-bench-snap-%d.bin"):format(SNAPDIR, i)
    local sdt, snap = timed(function() return vm:snapshot(path) end)
    local size = snap:size()
    local rdt = timed(function() vm:restore(snap) end)
    -- restored means answering: the first guest op after restore, timed separately
    local fdt, r = timed(function() return vm:run("true") end)
    r:assert_ok()
    emit(t, "snapshot", { i = i, snapshot_s = sdt, size_bytes = size })
    emit(t, "restore", { i = i, restore_s = rdt, first_run_after_restore_s = fdt })
    snap:delete()
  end
  vm:shutdown()
end)

test("vm:run(\"true\") round trip", { timeout = "10m" }, function(t)
  local vm = provium:vm("rt", "linux", { memory = MEM })
  vm:boot()
  for _ = 1, 10 do vm:run("true") end -- warm up: page cache, agent, host allocator
  local samples = {}
  for i = 1, RUNS do
    local dt, r = timed(function() return vm:run("true") end)
    if r.exit_code ~= 0 then error("vm:run(\"true\") exited " .. tostring(r.exit_code)) end
    samples[i] = dt
  end
  -- argv form (no shell): separates the agent round trip from busybox sh start-up
  local argv = {}
  for i = 1, RUNS do
    argv[i] = timed(function() return vm:run({ "/bin/true" }) end)
  end
  -- a guest op that spawns nothing: the transport + agent floor
  local stat = {}
  for i = 1, RUNS do
    stat[i] = timed(function() return vm:stat("/") end)
  end
  emit(t, "run_true", { samples_s = samples })
  emit(t, "run_argv_true", { samples_s = argv })
  emit(t, "stat_root", { samples_s = stat })
  vm:shutdown()
end)

test("read_file: 4 bytes and 64 MiB", { timeout = "10m" }, function(t)
  local vm = provium:vm("rf", "linux", { memory = MEM })
  vm:boot()
  vm:write_file("/tmp/four", "four")
  vm:run("head -c 67108864 /dev/zero > /tmp/big"):assert_ok()
  for _ = 1, 10 do vm:read_file("/tmp/four") end -- warm up
  local small = {}
  for i = 1, RUNS do
    small[i] = timed(function() return vm:read_file("/tmp/four") end)
  end
  local big = {}
  for i = 1, math.max(3, math.min(REPS, 7)) do
    local dt, data = timed(function() return vm:read_file("/tmp/big") end)
    if #data ~= 67108864 then error("read_file /tmp/big returned " .. #data .. " bytes") end
    big[i] = dt
  end
  emit(t, "read_file_4b", { samples_s = small })
  emit(t, "read_file_64m", { samples_s = big })
  vm:shutdown()
end)

-- Opt-in experiment for the "what bounds boot" notes: PROVIUM_BENCH_TRY_APPEND="..." boots
-- REPS more VMs with that text appended to the kernel command line.
local TRY = os.getenv("PROVIUM_BENCH_TRY_APPEND")
if TRY and TRY ~= "" then
  test("cold boot with kernel_cmdline_append (experiment)", { timeout = "15m" }, function(t)
    for i = 1, REPS do
      local vm = provium:vm("try" .. i, "linux", { memory = MEM })
      local dt = timed(function() vm:boot({ kernel_cmdline_append = TRY }) end)
      local facts = guest_boot_facts(vm)
      facts.i = i
      facts.boot_s = dt
      facts.append = TRY
      emit(t, "boot_try", facts)
      vm:shutdown()
    end
  end)
end
