-- Your first provium test file.
--
-- Every `*.test.lua` under the paths you give provium is a test file. The file's top level runs
-- first (set things up there); then each `test(name, fn)` runs in declaration order, in the same
-- Lua state, each with a fresh `t` context.

local greeting = "hello, provium"

test("strings behave", function(t)
  t:assert(#greeting > 0, "greeting is empty")
  t:assert_eq(greeting:upper(), "HELLO, PROVIUM")
  t:assert_contains(greeting, "provium") -- a plain substring, never a Lua pattern
end)

test("failures are sticky", function(t)
  -- An assertion records its failure before it raises, so even a test that swallows the error
  -- with pcall would fail. Here we only show that assert_raises catches an expected error.
  local err = t:assert_raises(function() error("expected") end)
  t:assert_contains(tostring(err), "expected")
end)

test("logs go to the report", function(t)
  t:log("visible in --json output and in test events")
  t:assert_neq(1, 2)
end)
