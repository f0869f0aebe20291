-- Memory scaling: how cold boot, restore and vm:run("true") change with guest memory. Run by
-- bench/qemu/scaling.py (copied to a temporary `*.test.lua`); never part of a test suite.
-- Every figure is one `BENCH {json}` log line; nothing here asserts a timing.
--
-- Environment: PROVIUM_BENCH_MEMS (comma-separated sizes, default "256M,1G,4G"),
-- PROVIUM_BENCH_REPS (boots and restores per size, default 3), PROVIUM_BENCH_RUNS (vm:run
-- calls per size, default 100), PROVIUM_BENCH_SNAPDIR (snapshot files, default TMPDIR).

local MEMS = os.getenv("PROVIUM_BENCH_MEMS") or "256M,1G,4G"
local REPS = tonumber(os.getenv("PROVIUM_BENCH_REPS") or "") or 3
local RUNS = tonumber(os.getenv("PROVIUM_BENCH_RUNS") or "") or 100
local SNAPDIR = os.getenv("PROVIUM_BENCH_SNAPDIR") or os.getenv("TMPDIR") or "/tmp"

local function timed(fn)
  local t0 = _provium_now()
  local r = fn()
  return _provium_now() - t0, r
end

for mem in MEMS:gmatch("[^,]+") do
  test("memory " .. mem, { timeout = "20m" }, function(t)
    local boots = {}
    for i = 1, REPS do
      local vm = provium:vm(("cold-%s-%d"):format(mem, i), "linux", { memory = mem })
      boots[i] = timed(function() vm:boot() end)
      vm:shutdown()
    end
    local vm = provium:vm("snap-" .. mem, "linux", { memory = mem })
    vm:boot()
    vm:run("true"):assert_ok()
    local path = ("%s/provium-bench-mem-%s.bin"):format(SNAPDIR, mem)
    local snap_s, snap = timed(function() return vm:snapshot(path) end)
    local restores, firsts = {}, {}
    for i = 1, REPS do
      restores[i] = timed(function() vm:restore(snap) end)
      local dt, r = timed(function() return vm:run("true") end)
      r:assert_ok()
      firsts[i] = dt
    end
    for _ = 1, 10 do vm:run("true") end -- warm up after the last restore
    local runs = {}
    for i = 1, RUNS do
      runs[i] = timed(function() return vm:run("true") end)
    end
    local size = snap:size()
    snap:delete()
    vm:shutdown()
    t:log("BENCH " .. json.encode({
      what = "memory", memory = mem, boot_s = boots, snapshot_s = snap_s,
      snapshot_bytes = size, restore_s = restores, first_run_after_restore_s = firsts,
      run_true_s = runs,
    }))
  end)
end
