-- A tiny helper module, loaded with require("lib.fmtx") from any test file under examples/.
local M = {}

function M.kv(tbl)
  local keys = {}
  for k in pairs(tbl) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. tostring(tbl[k]) end
  return table.concat(parts, ",")
end

return M
