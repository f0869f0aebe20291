-- wait_until polls a predicate until it returns something truthy, and returns that value.
-- Durations are numbers of seconds or strings: "500ms", "30s", "10m", "2h".

provium.timeout = "20s" -- default per-test timeout for this file (meta.timeout wins)

test("wait for a condition", function(t)
  local polls = 0
  local value = wait_until(function()
    polls = polls + 1
    if polls >= 3 then return "ready" end
  end, { timeout = "5s", interval = "10ms", desc = "three polls" })
  t:assert_eq(value, "ready")
end)

test("a wait that cannot succeed raises a clear error", function(t)
  local err = t:assert_raises(function()
    wait_until(function() return false end, { timeout = "50ms", interval = "10ms", desc = "the impossible" })
  end)
  t:assert_contains(err, "wait_until: the impossible not met within 0.05s")
end)
