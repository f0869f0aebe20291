-- Resuming a prepared machine from a fixture (examples/fixtures/prepared.fixture.lua).
--
-- The first run builds the fixture (boot + preparation + snapshot); later runs restore it.
-- Each `vm_fixture(...)` is a separate VM with the prepared state, named `fixture:<name>`.

local vm = vm_fixture("fixtures/prepared")

test("the prepared state is there", function(t)
  t:assert_eq(vm:read_file("/srv/app/state"), "prepared\n")
  t:assert_contains(vm:read_file("/srv/app/config.ini"), "port = 8080")
end)

test("two resumed copies do not share their changes", function(t)
  local other = vm_fixture("fixtures/prepared")
  other:write_file("/srv/app/state", "changed\n")
  t:assert_eq(vm:read_file("/srv/app/state"), "prepared\n")
  t:assert_eq(other:read_file("/srv/app/state"), "changed\n")
end)
