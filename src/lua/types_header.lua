---@meta
-- Provium API stubs for the Lua Language Server, written by `provium lsp-setup`.
-- They silence "undefined global" diagnostics and give completion; edit freely to add detail.
-- (In provium's sources this part is src/lua/types_header.lua; the method stubs of every class
-- after it are generated from the binding declarations, src/lua/api.hpp.)

---@alias Duration number|string   seconds, or "500ms" / "30s" / "10m" / "2h"
---@alias Size integer|string       bytes, or "512M" / "4G"

---@class TestMeta
---@field slow? boolean|integer
---@field skip? boolean|integer|string
---@field tags? string|string[]
---@field timeout? Duration
---@field spec? any
---@field [string] any

---@class TestContext
---@field name string
---@field meta TestMeta
local TestContext = {}
---@param cond any
---@param msg? string
function TestContext:assert(cond, msg) end
---@param a any
---@param b any
---@param msg? string
function TestContext:assert_eq(a, b, msg) end
---@param a any
---@param b any
---@param msg? string
function TestContext:assert_neq(a, b, msg) end
---@param haystack string
---@param needle string
---@param msg? string
function TestContext:assert_contains(haystack, needle, msg) end
---@param fn fun()
---@param msg? string
---@return any err
function TestContext:assert_raises(fn, msg) end
---@param msg? string
function TestContext:fail(msg) end
---@param reason? string
function TestContext:skip(reason) end
---@param msg any
function TestContext:log(msg) end

---@param name string
---@param meta_or_fn TestMeta|fun(t: TestContext)
---@param fn? fun(t: TestContext)
function test(name, meta_or_fn, fn) end

---@param reason? string
function todo(reason) end

---@param predicate fun(): any
---@param opts? {timeout?: Duration, interval?: Duration, desc?: string}
---@return any
function wait_until(predicate, opts) end

---@class JsonLib
json = {}
---@param v any
---@return string
function json.encode(v) end
---@param s string
---@return any
function json.decode(s) end

---@class RunResult
---@field exit_code integer
---@field stdout string
---@field stderr string
---@field status "exited"|"signalled"|"timed_out"
---@field signal? integer
---@field timed_out boolean
local RunResult = {}

-- Disks are not implemented yet (vm:disk / vm:attach_disk refuse); their planned surface:
---@class Disk
local Disk = {}
---@return integer
function Disk:size() end
---@return string
function Disk:read_sectors(off, n) end
function Disk:write_sectors(off, data) end
function Disk:fault_inject(mode, opts) end
function Disk:clear_faults() end
---@return string[]
function Disk:active_faults() end
function Disk:power_cut() end
function Disk:detach() end
---@return boolean
function Disk:is_detached() end
---@return string
function Disk:id() end

---@class Lab
---@field timeout? Duration          file-scope default per-test timeout
---@field reset_between_tests? boolean
local Lab = {}

---@type Lab
provium = {}

---@param path string
---@return Vm
function vm_fixture(path) end
---@param path string
---@return Lab
function lab_fixture(path) end

-- Reserved internal globals (REFERENCE §4.11).
---@param seconds number
function _provium_sleep(seconds) end
---@return number
function _provium_now() end
---@type string
_PROVIUM_SOURCE_PATH = ""
function _provium_register_resource(ud, kind) end
function _provium_close_test_scope() end
function _provium_close_file_scope() end
function _provium_file_skipped() end
function _provium_get_tests() end
function _provium_clear_tests() end
---@return TestContext
function _provium_make_t(name, meta) end
_provium_file_config = {}
---@type string|nil
_provium_current_test = nil
---@type boolean
_provium_in_test = false
