-- The policy half of the test framework (REFERENCE §4), compiled into the binary and run in
-- every file's Lua state before the file itself. The C++ side provides the primitives
-- (_provium_sleep, _provium_now, _provium_duration, _provium_note_dependency, json, the Lab
-- objects) and drives the tests one by one; this chunk decides what `test`, `t`, `todo` and
-- `wait_until` mean. Frames from this chunk ("[provium]") are trimmed from user tracebacks.

local tests, names = {}, {}
local todo_reason = nil

_provium_file_config = {}
_provium_in_test = false
_provium_current_test = nil

-- Source position of the caller `level` frames up, as Lua's own errors show it ("file:12: ").
local function where(level)
  local info = debug.getinfo(level + 1, "Sl")
  if info and info.currentline and info.currentline > 0 then
    return info.short_src .. ":" .. info.currentline .. ": "
  end
  return ""
end

---------------------------------------------------------------------------------------------
-- test(name, [meta,] fn)

function test(name, a, b)
  if _provium_in_test then
    error("test: cannot declare a test inside another test's body", 2)
  end
  if type(name) ~= "string" then
    error("test: expected test(name, fn) or test(name, meta, fn); name must be a string, got "
      .. type(name), 2)
  end
  local meta, fn
  if type(a) == "function" and b == nil then
    meta, fn = {}, a
  elseif type(a) == "table" and type(b) == "function" then
    meta, fn = a, b
  else
    error(("test: expected test(name, fn) or test(name, meta, fn), got test(%s, %s, %s) for `%s`")
      :format(type(name), type(a), type(b), name), 2)
  end
  if names[name] then
    error(("test: duplicate name `%s` in this file"):format(name), 2)
  end
  names[name] = true
  tests[#tests + 1] = { name = name, meta = meta, fn = fn }
end

function todo(reason)
  if _provium_in_test then
    error("todo: call todo() at file scope; inside a test use t:skip(reason)", 2)
  end
  if reason ~= nil and type(reason) ~= "string" then
    error("todo: reason must be a string, got " .. type(reason), 2)
  end
  todo_reason = reason or "todo"
end

function _provium_file_skipped() return todo_reason end
function _provium_get_tests() return tests end
function _provium_clear_tests() tests, names = {}, {} end

---------------------------------------------------------------------------------------------
-- The t context

local SKIP_MT = {
  __tostring = function(s) return "__PROVIUM_SKIP__: " .. tostring(s.reason) end,
}

function _provium_is_skip(err)
  return type(err) == "table" and getmetatable(err) == SKIP_MT
end

local T = {}
T.__index = T
T.__name = "TestContext"

local function render(v)
  return tostring(v)
end

-- Records the failure (sticky: survives a pcall that swallows it) and raises it, pointing at
-- the caller of the assertion.
local function fail(t, msg, level)
  msg = where(level + 1) .. msg
  if rawget(t, "_failure") == nil then rawset(t, "_failure", msg) end
  error(msg, 0)
end

local function with_prefix(msg, text)
  if msg ~= nil then return tostring(msg) .. ": " .. text end
  return text
end

function T:assert(cond, msg)
  if not cond then fail(self, msg ~= nil and tostring(msg) or "assertion failed", 2) end
  return cond
end

function T:assert_eq(a, b, msg)
  if a ~= b then fail(self, with_prefix(msg, render(a) .. " ~= " .. render(b)), 2) end
end

function T:assert_neq(a, b, msg)
  if a == b then fail(self, with_prefix(msg, render(a) .. " == " .. render(b)), 2) end
end

function T:assert_contains(haystack, needle, msg)
  if type(haystack) ~= "string" then
    fail(self, "assert_contains: haystack must be a string, got " .. type(haystack), 2)
  end
  if type(needle) ~= "string" then
    fail(self, "assert_contains: needle must be a string, got " .. type(needle), 2)
  end
  if not string.find(haystack, needle, 1, true) then
    fail(self, with_prefix(msg, haystack .. " does not contain " .. needle), 2)
  end
end

function T:assert_raises(fn, msg)
  if type(fn) ~= "function" then
    fail(self, "assert_raises: expected a function, got " .. type(fn), 2)
  end
  local saved = rawget(self, "_failure")
  local ok, err = pcall(fn)
  -- Assertions used inside fn to provoke the error must not fail the test.
  rawset(self, "_failure", saved)
  if ok then fail(self, with_prefix(msg, "expected to raise"), 2) end
  return err
end

function T:fail(msg)
  fail(self, msg ~= nil and tostring(msg) or "explicit failure (t:fail)", 2)
end

function T:skip(reason)
  error(setmetatable({ reason = reason ~= nil and tostring(reason) or "skipped" }, SKIP_MT), 0)
end

function T:log(msg)
  local log = rawget(self, "_log")
  log[#log + 1] = tostring(msg)
end

function _provium_make_t(name, meta)
  return setmetatable({ name = name, meta = meta or {}, _log = {} }, T)
end

---------------------------------------------------------------------------------------------
-- wait_until(predicate, {timeout=, interval=, desc=})

function wait_until(pred, opts)
  if type(pred) ~= "function" then
    error("wait_until: expected a function as the first argument, got " .. type(pred), 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("wait_until: options must be a table like {timeout = \"5s\"}, got " .. type(opts), 2)
  end
  opts = opts or {}
  local timeout = opts.timeout == nil and 10 or _provium_duration(opts.timeout, "wait_until: timeout")
  local interval = opts.interval == nil and 0.1 or _provium_duration(opts.interval, "wait_until: interval")
  local desc = opts.desc == nil and "condition" or tostring(opts.desc)
  local deadline = _provium_now() + timeout
  while true do
    local r = pred()
    if r then return r end
    local now = _provium_now()
    if now >= deadline then
      error(("wait_until: %s not met within %ss"):format(desc, _provium_format_seconds(timeout)), 2)
    end
    _provium_sleep(math.min(interval, deadline - now))
  end
end

---------------------------------------------------------------------------------------------
-- Scopes: every closable object registers with the scope it was created in; scope end closes
-- them by kind priority, then registration order, each in its own protected call.

local PRIORITY = { stream = 1, process = 2, file = 3, worker = 4, bridge = 5, vm = 6 }
local file_scope, test_scope = {}, nil
local seq = 0

function _provium_register_resource(ud, kind)
  seq = seq + 1
  local scope = (_provium_in_test and test_scope) or file_scope
  scope[#scope + 1] = { ud = ud, kind = kind, seq = seq }
end

local function close_scope(list, label)
  table.sort(list, function(a, b)
    local pa, pb = PRIORITY[a.kind] or 99, PRIORITY[b.kind] or 99
    if pa ~= pb then return pa < pb end
    return a.seq < b.seq
  end)
  local errors = {}
  for _, r in ipairs(list) do
    local ok, err = pcall(function() r.ud:close() end)
    if not ok then errors[#errors + 1] = ("%s teardown: closing %s: %s"):format(label, r.kind, tostring(err)) end
  end
  return errors
end

-- Open resources of one kind in the current scopes (vm:open_file_count). A File that was
-- closed reports fd() == 0.
function _provium_open_count(kind)
  local n = 0
  for _, list in ipairs({ file_scope, test_scope or {} }) do
    for _, r in ipairs(list) do
      if r.kind == kind then
        local ok, fd = pcall(function() return r.ud:fd() end)
        if not ok or fd ~= 0 then n = n + 1 end
      end
    end
  end
  return n
end

function _provium_open_test_scope() test_scope = {} end

function _provium_close_test_scope()
  local list = test_scope or {}
  test_scope = nil
  return close_scope(list, "test")
end

function _provium_close_file_scope()
  local errs = _provium_close_test_scope()
  local list = file_scope
  file_scope = {}
  for _, e in ipairs(close_scope(list, "file")) do errs[#errs + 1] = e end
  return errs
end

---------------------------------------------------------------------------------------------
-- require through the roots, remembering which files were loaded (for --watch).

do
  local raw_require = require
  function require(name)
    -- Re-raised at level 2 so a missing module is reported at the requiring line.
    local ok, mod, path = pcall(raw_require, name)
    if not ok then error(mod, 2) end
    if type(path) == "string" then _provium_note_dependency(path) end
    return mod, path
  end
end

---------------------------------------------------------------------------------------------
-- Global fixture forms: vm_fixture(path) / lab_fixture(path) use the current scope's lab.

function vm_fixture(path) return provium.vm_fixture(provium, path) end
function lab_fixture(path) return provium.lab_fixture(provium, path) end
