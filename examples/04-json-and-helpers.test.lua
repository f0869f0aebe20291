-- Helper modules are plain Lua files required through the test roots, and the `json` global
-- encodes and decodes on the host.

local fmtx = require("lib.fmtx")

test("helpers load through the roots", function(t)
  t:assert_eq(fmtx.kv({ b = 2, a = 1 }), "a=1,b=2")
end)

test("json round trip", function(t)
  local doc = json.decode('{"name":"db","replicas":3,"ports":[5432,5433],"tls":null}')
  t:assert_eq(doc.name, "db")
  t:assert_eq(doc.replicas, 3)
  t:assert_eq(#doc.ports, 2)
  t:assert_eq(doc.tls, nil) -- null members are dropped
  t:assert_eq(json.encode({ 1, 2, 3 }), "[1,2,3]")
end)
