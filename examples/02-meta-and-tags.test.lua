-- Meta tables: declarative skips, slow tests, tags and arbitrary keys you can filter on.
--
--   provium examples/ --include-slow                  also run meta.slow tests
--   provium examples/ --tag smoke                     only tests tagged smoke
--   provium examples/ --no-tag flaky                  everything except flaky tests
--   provium examples/ --tag-meta subsystems=parser    tests that touch the parser

test("tagged smoke", { tags = { "smoke" }, subsystems = { "parser" } }, function(t)
  t:assert_eq(t.meta.tags[1], "smoke")
  t:assert_eq(t.name, "tagged smoke")
end)

test("a single tag may be a string", { tags = "smoke" }, function(t)
  t:assert_eq(t.meta.tags, "smoke")
end)

test("waiting on an upstream fix", { skip = "see issue #42" }, function(t)
  error("never runs")
end)

test("a long soak", { slow = true, timeout = "10s" }, function(t)
  -- Skipped unless --include-slow; `timeout` bounds this test alone.
  local sum = 0
  for i = 1, 1e5 do sum = sum + i end
  t:assert_eq(sum, 5000050000)
end)

test("skipping from inside a test", function(t)
  if os.getenv("PROVIUM_EXAMPLE_NEVER_SET") == nil then
    t:skip("needs PROVIUM_EXAMPLE_NEVER_SET")
  end
end)
