---@meta
-- Provium API stubs for the Lua Language Server, written by `provium lsp-setup`.
-- They silence "undefined global" diagnostics and give completion; edit freely to add detail.
-- A unit test checks that every method provium registers on Lab and Vm appears here.

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
---@return boolean
function RunResult:ok() end
---@param msg? string
---@return RunResult
function RunResult:assert_ok(msg) end

---@class Stream
local Stream = {}
---@param timeout? Duration
---@return string|nil
function Stream:next(timeout) end
---@param needle string
---@param timeout? Duration
---@return string
function Stream:read_until(needle, timeout) end
---@param needle string
---@param timeout? Duration
function Stream:expect(needle, timeout) end
---@param timeout? Duration
---@return string[]
function Stream:drain(timeout) end
function Stream:close() end
---@return boolean
function Stream:eof() end
---@return {file: string, line: integer}|nil
function Stream:creation_site() end

---@class Process
local Process = {}
---@param timeout? Duration
---@return RunResult
function Process:wait(timeout) end
---@param sig? integer|string
function Process:kill(sig) end
---@param sig integer|string
function Process:signal(sig) end
---@return integer
function Process:pid() end
---@return integer
function Process:handle() end
---@return "running"|"exited"|"unknown"
function Process:status() end
---@param data string
---@return integer
function Process:stdin_write(data) end
function Process:close_stdin() end
---@return Stream
function Process:stdout_stream() end
---@return Stream
function Process:stderr_stream() end
function Process:close() end

---@class File
local File = {}
---@param n integer
---@return string
function File:read(n) end
---@return string
function File:read_all() end
---@param data string
---@return integer
function File:write(data) end
---@param off integer
---@param whence? "set"|"cur"|"end"
---@return integer
function File:seek(off, whence) end
---@return integer
function File:tell() end
function File:close() end
---@return integer
function File:fd() end
---@return Stream
function File:tail_stream() end

---@class Console
local Console = {}
---@return Stream
function Console:read() end
---@return string
function Console:read_log() end
---@param needle string
---@param timeout? Duration
---@return string
function Console:expect(needle, timeout) end
---@param data string
---@param opts? {timeout?: Duration}
---@return integer
function Console:write(data, opts) end
function Console:close() end

---@class Clock
local Clock = {}
---@return number
function Clock:get() end
---@return integer
function Clock:get_ns() end
---@param sec number
function Clock:set(sec) end
---@param ns integer
function Clock:set_ns(ns) end
---@param d Duration
function Clock:advance(d) end
---@param d Duration
function Clock:sleep(d) end

---@class Worker
local Worker = {}
---@param cmd string|string[]
---@param opts? table
---@return RunResult
function Worker:run(cmd, opts) end
---@param cmd string|string[]
---@param opts? table
---@return Process
function Worker:run_async(cmd, opts) end
---@param nr integer
---@return {ret: integer, result: integer, errno: integer, out_bufs: string[]}
function Worker:syscall(nr, ...) end
---@param nr integer
---@return PendingSyscall
function Worker:syscall_async(nr, ...) end
---@param path string
---@param mode {read?: boolean, write?: boolean, create?: boolean, truncate?: boolean, append?: boolean, exclusive?: boolean, perm?: integer}
---@return File
function Worker:open_file(path, mode) end
---@param sig? integer|string
---@return integer signalled number of async children signalled
function Worker:kill(sig) end
---@return integer status worst exit status of the async children (128+N when killed by signal N)
function Worker:join() end
---@return integer
function Worker:handle() end
function Worker:close() end

---@class PendingSyscall
local PendingSyscall = {}
---@return {ret: integer, result: integer, errno: integer, out_bufs: string[]}
function PendingSyscall:await() end

---@class Snapshot
local Snapshot = {}
---@return string
function Snapshot:path() end
---@return integer
function Snapshot:size() end
function Snapshot:delete() end

---@class Capture: Stream
local Capture = {}
---@param path string
function Capture:save(path) end

---@class Nic
local Nic = {}
---@return {rx_bytes: integer, tx_bytes: integer, rx_packets: integer, tx_packets: integer, errors: integer}
function Nic:counters() end
---@return Capture
function Nic:capture() end
function Nic:disconnect() end
function Nic:reconnect() end
---@return string|nil
function Nic:address() end
---@return string
function Nic:mac() end
---@return string
function Nic:vm_name() end
---@return string
function Nic:bridge() end

---@class Bridge
local Bridge = {}
function Bridge:attach(x) end
function Bridge:detach(x) end
---@return string[]
function Bridge:members() end
---@return string
function Bridge:name() end
function Bridge:partition(a, b) end
function Bridge:unpartition(a, b) end
function Bridge:partition_all() end
function Bridge:restore_all() end
---@return boolean
function Bridge:is_partitioned(a, b) end
function Bridge:isolate(vm) end
function Bridge:unisolate(vm) end
---@return boolean
function Bridge:is_isolated(vm) end
function Bridge:add_latency(x) end
function Bridge:add_directional_latency(x) end
function Bridge:drop_rate(x) end
function Bridge:directional_drop_rate(x) end
function Bridge:bandwidth_limit(x) end
---@return number
function Bridge:latency_ms() end
---@return number
function Bridge:drop_rate_pct() end
---@return number
function Bridge:bandwidth_bps() end
function Bridge:reset() end
function Bridge:enable_uplink() end
function Bridge:disable_uplink() end
function Bridge:route(x) end
function Bridge:routes() end
---@return Nic
function Bridge:nic(vm) end
---@return Capture
function Bridge:capture() end
---@return string
function Bridge:subnet() end
function Bridge:close() end

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

---@class Vm
local Vm = {}
---@param opts? table
---@return Vm
function Vm:boot(opts) end
function Vm:shutdown() end
function Vm:close() end
function Vm:pause() end
function Vm:resume() end
function Vm:reset() end
function Vm:power_button() end
function Vm:wakeup() end
---@return Snapshot
function Vm:snapshot(path) end
function Vm:restore(snap) end
---@return RunResult
function Vm:run(cmd, args_or_opts) end
---@return Process
function Vm:run_async(cmd, args_or_opts) end
---@return string
function Vm:read_file(path) end
function Vm:write_file(path, data) end
function Vm:push_file(host, guest, opts) end
---@return {size: integer, mtime: number, mtime_ns: integer, perm: integer, entry_type: string}
function Vm:stat(path, opts) end
---@return {name: string, entry_type: string}[]
function Vm:listdir(path) end
function Vm:mkdir(path, opts) end
function Vm:unlink(path) end
function Vm:rename(from, to) end
---@return File
function Vm:open_file(path, mode) end
---@return Stream
function Vm:tail_file(path, opts) end
---@return Stream
function Vm:fd_stream(fd) end
---@return table
function Vm:syscall(nr, ...) end
function Vm:syscall_async(nr, ...) end
---@return table
function Vm:ioctl(fd, cmd, data, opts) end
---@return string|nil
function Vm:read_mem(addr, len) end
---@return table[]
function Vm:batch(fn) end
---@return Clock
function Vm:clock() end
---@return Console
function Vm:console() end
---@param opts? {thread?: false, uid?: integer, gid?: integer, groups?: integer[], caps?: string[]}
---@return Worker
function Vm:spawn_worker(opts) end
---@return Nic
function Vm:nic(name) end
---@return Disk
function Vm:disk(id) end
---@return Disk
function Vm:attach_disk(opts) end
---@return string
function Vm:name() end
---@return string
function Vm:profile() end
---@return "created"|"booted"|"paused"|"shutdown"|"dead"
function Vm:state() end
---@return integer|nil
function Vm:cid() end
---@return boolean
function Vm:is_quiescent() end
---@return integer
function Vm:open_file_count() end
---@return integer
function Vm:open_stream_count() end
---@return string|nil
function Vm:console_socket_path() end

---@class Lab
---@field timeout? Duration          file-scope default per-test timeout
---@field reset_between_tests? boolean
local Lab = {}
---@param name string
---@param profile? string
---@param opts? {memory?: Size, cpus?: integer}
---@return Vm
function Lab:vm(name, profile, opts) end
---@return Bridge
function Lab:bridge(name, opts) end
---@return Lab
function Lab:lab(name) end
function Lab:include(x) end
function Lab:remove(x) end
---@return {kind: "vm"|"bridge"|"sub_lab", name: string}[]
function Lab:members() end
---@return string[]
function Lab:vm_names() end
---@return string[]
function Lab:bridge_names() end
---@return string[]
function Lab:sub_lab_names() end
---@return string
function Lab:name() end
---@return Lab
function Lab:boot() end
function Lab:shutdown() end
function Lab:pause() end
function Lab:resume() end
function Lab:snapshot(dir) end
function Lab:restore(dir) end
---@return Vm
function Lab:vm_fixture(path) end
---@return Lab
function Lab:lab_fixture(path) end
---@param host_path string
function Lab:depends_on_file(host_path) end
---@param amount {memory?: Size, cpus?: integer}
function Lab:claim(amount) end
---@return boolean
function Lab:barrier(name, count, timeout) end
---@return string
function Lab:pack(fmt, ...) end
function Lab:unpack(fmt, s) end

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
