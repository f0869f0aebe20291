#include "runner/file_runner.hpp"

#include <fmt/format.h>

#include "lab/lab.hpp"
#include "lab/reset_baseline.hpp"
#include "lua/context.hpp"
#include "lua/convert.hpp"
#include "lua/lab_vm.hpp"
#include "lua/state.hpp"
#include "util/duration.hpp"

namespace provium::runner {
namespace {

using namespace std::chrono;

constexpr const char* kPoisoned = "failed-due-to-poisoned-state";

struct TestDecl {
  std::string name;
  events::MetaMap meta;
  std::vector<std::string> meta_problems;
  std::optional<double> timeout;  // meta.timeout, seconds
  int ref = LUA_NOREF;            // registry ref of {name=, meta=, fn=}
};

// Reads the registered tests out of the Lua state, validating the well-known meta keys.
std::vector<TestDecl> collect_tests(lua_State* L) {
  std::vector<TestDecl> out;
  lua_getglobal(L, "_provium_get_tests");
  lua_call(L, 0, 1);
  lua_Integer n = luaL_len(L, -1);
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_rawgeti(L, -1, i);
    TestDecl d;
    lua_getfield(L, -1, "name");
    d.name = lua_tostring(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, -1, "meta");
    // Functions, userdata and cycles in meta become Null (REFERENCE §11.4); only invalid
    // values of the keys the runner itself interprets fail the test.
    d.meta = lua::to_meta_map(L, -1, nullptr);
    lua_pushliteral(L, "timeout");
    lua_rawget(L, -2);  // raw: user metamethods must not run outside a protected call
    if (!lua_isnil(L, -1)) {
      if (lua_type(L, -1) == LUA_TNUMBER) {
        auto p = util::check_duration_seconds(lua_tonumber(L, -1));
        if (p)
          d.timeout = *p.value;
        else
          d.meta_problems.push_back("meta.timeout: " + p.error);
      } else if (lua_type(L, -1) == LUA_TSTRING) {
        auto p = util::parse_duration_seconds(lua_tostring(L, -1));
        if (p)
          d.timeout = *p.value;
        else
          d.meta_problems.push_back("meta.timeout: " + p.error);
      } else {
        d.meta_problems.push_back(fmt::format(
            "meta.timeout must be a number of seconds or a duration string like \"30s\", got {}",
            luaL_typename(L, -1)));
      }
    }
    lua_pop(L, 2);  // timeout, meta
    if (auto it = d.meta.find("tags"); it != d.meta.end()) {
      bool ok = it->second.as_string() != nullptr;
      if (auto arr = it->second.as_array()) {
        ok = true;
        for (auto& e : *arr) ok = ok && e.as_string();
      }
      if (!ok) d.meta_problems.push_back("meta.tags must be a string or an array of strings");
    }
    d.ref = luaL_ref(L, LUA_REGISTRYINDEX);  // pops the test entry
    out.push_back(std::move(d));
  }
  lua_pop(L, 1);
  return out;
}

void report_teardown_errors(lua_State* L, const std::string& file) {
  // The close functions return a list of error strings; teardown itself never raises.
  if (lua_istable(L, -1)) {
    for (lua_Integer i = 1, n = luaL_len(L, -1); i <= n; ++i) {
      lua_rawgeti(L, -1, i);
      fmt::print(stderr, "provium: {}: {}\n", file,
                 lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
}

// Teardown must run even while a file-level interrupt is pending, so the interrupt hook is
// parked for its duration.
class HookPause {
 public:
  explicit HookPause(lua_State* L)
      : L_(L), hook_(lua_gethook(L)), mask_(lua_gethookmask(L)), count_(lua_gethookcount(L)) {
    lua_sethook(L_, nullptr, 0, 0);
  }
  ~HookPause() { lua_sethook(L_, hook_, mask_, count_); }

 private:
  lua_State* L_;
  lua_Hook hook_;
  int mask_, count_;
};

void call_scope_close(lua::FileState& st, const char* fn, const std::string& file) {
  lua_State* L = st.L();
  HookPause pause(L);
  lua_getglobal(L, fn);
  if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
    fmt::print(stderr, "provium: {}: teardown: {}\n", file,
               lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
    lua_pop(L, 1);
    return;
  }
  report_teardown_errors(L, file);
}

void set_in_test(lua_State* L, lua::FileContext& ctx, const std::string* name) {
  ctx.in_test = name != nullptr;
  lua_pushboolean(L, name != nullptr);
  lua_setglobal(L, "_provium_in_test");
  if (name)
    lua_pushstring(L, name->c_str());
  else
    lua_pushnil(L);
  lua_setglobal(L, "_provium_current_test");
}

class Runner {
 public:
  Runner(const TestFile& file, const FileRunSettings& s, Interrupt& intr)
      : file_(file), s_(s), intr_(intr) {}

  FileRunOutput run(std::function<void()> on_stuck) {
    auto started = steady_clock::now();
    FileRunOutput out;
    out.result.file = file_;
    std::optional<Clock::time_point> deadline;
    std::string file_msg;
    if (s_.file_timeout) {
      deadline = Clock::now() + *s_.file_timeout;
      file_msg = fmt::format("file timed out after {}",
                             util::format_duration(duration<double>(*s_.file_timeout).count()));
    }
    if (s_.watchdog) wd_ = s_.watchdog->add(&intr_, deadline, file_msg, std::move(on_stuck));
    try {
      run_inner(out.result);
    } catch (const std::exception& e) {
      // A crash escaping the runner: the file is reported, never the process.
      out.result.chunk_error = fmt::format("panicked: {}", e.what());
      out.result.status = FileStatus::Crashed;
    }
    if (s_.watchdog && wd_) s_.watchdog->remove(*wd_);
    if (ctx_.account) ctx_.account->release_claim();  // every VM of the file has stopped
    if (ctx_.claim_granted && ctx_.bus) {
      // Always paired with claim_acquired, also when the file crashed or timed out.
      events::MetaMap p;
      p["path"] = events::str(file_.display);
      p["amount"] = events::amount(ctx_.claim_memory, ctx_.claim_cpus);
      ctx_.bus->emit("claim_released", std::move(p));
    }
    out.result.duration = steady_clock::now() - started;
    out.dependencies = ctx_.dependencies;
    return out;
  }

 private:
  void run_inner(FileResult& r) {
    ctx_.config = s_.config;
    ctx_.interrupt = &intr_;
    ctx_.backend = s_.backend;
    ctx_.bus = s_.bus;
    ctx_.file = file_.display;
    ctx_.abs_path = file_.abs.string();
    ctx_.root_lab = std::make_shared<lab::Lab>("provium");
    ctx_.roots = s_.roots;
    ctx_.fixtures = s_.fixtures;
    if (s_.pool) {
      scheduler::Account::Hooks hooks;
      if (s_.watchdog && wd_) {
        hooks.wait_begin = [this] { s_.watchdog->begin_wait(*wd_); };
        hooks.wait_end = [this] { s_.watchdog->end_wait(*wd_); };
      }
      hooks.cancelled = [this]() -> std::optional<std::string> {
        if (!intr_.pending()) return std::nullopt;
        return intr_.message();
      };
      ctx_.account =
          std::make_shared<scheduler::Account>(s_.pool, s_.pool_holder, std::move(hooks));
    }
    lua::FileState st(&ctx_, s_.roots);
    lua_State* L = st.L();

    if (auto err = st.load_file(file_.abs.string(), file_.display)) {
      r.chunk_error = *err;
      r.status = FileStatus::Failed;
      return;
    }
    if (auto err = st.pcall(0)) {
      finish_interrupted_chunk(r, *err);
      teardown_file(st);
      return;
    }
    if (ctx_.reset_between_tests) {
      lua_pushlightuserdata(L, &baseline_);
      lua_pushcclosure(L, lua::take_reset_baseline, 1);
      if (auto err = st.pcall(0)) {
        r.status = FileStatus::Failed;
        r.chunk_error = err->message;
        teardown_file(st);
        return;
      }
    }
    auto tests = collect_tests(L);
    std::optional<std::string> todo;  // todo(reason) at file scope skips every test
    lua_getglobal(L, "_provium_file_skipped");
    lua_call(L, 0, 1);
    if (lua_isstring(L, -1)) todo = lua_tostring(L, -1);
    lua_pop(L, 1);

    bool poisoned = false;
    for (auto& t : tests) {
      if (intr_.kind() == InterruptKind::FileTimeout || intr_.kind() == InterruptKind::RunStopped)
        break;  // unstarted tests are not reported
      TestResult tr;
      tr.name = t.name;
      tr.meta = t.meta;
      if (poisoned) {
        tr.status = TestStatus::Failed;
        tr.message = kPoisoned;
      } else if (todo) {
        tr.status = TestStatus::Skipped;
        tr.message = *todo;
      } else if (auto skip = s_.filter ? s_.filter->skip_reason(t.meta) : std::nullopt) {
        tr.status = TestStatus::Skipped;
        tr.message = *skip;
      } else if (!t.meta_problems.empty()) {
        // Reported as a test that started and failed, keeping the event ordering rule.
        tr.ran = true;
        if (s_.observer) s_.observer->test_started(file_, t.name, t.meta);
        tr.status = TestStatus::Failed;
        std::string msg;
        for (auto& p : t.meta_problems) msg += (msg.empty() ? "" : "; ") + p;
        tr.message = fmt::format("invalid meta for test `{}`: {}", t.name, msg);
      } else {
        try {
          run_test(st, t, tr);
        } catch (const std::exception& e) {
          tr.status = TestStatus::Failed;
          tr.message = fmt::format("panic: {}", e.what());
          poisoned = true;
          r.status = FileStatus::Crashed;
        }
      }
      if ((!tr.ran || !t.meta_problems.empty()) && s_.observer)
        s_.observer->test_finished(file_, tr);
      r.tests.push_back(std::move(tr));
      luaL_unref(L, LUA_REGISTRYINDEX, t.ref);
    }
    if (intr_.kind() == InterruptKind::FileTimeout)
      r.status = FileStatus::TimedOut;
    else if (r.status == FileStatus::Passed && !r.passed())
      r.status = FileStatus::Failed;
    teardown_file(st);
    if (intr_.kind() == InterruptKind::FileTimeout) r.status = FileStatus::TimedOut;
  }

  void finish_interrupted_chunk(FileResult& r, const lua::FileState::CallError& err) {
    if (intr_.kind() == InterruptKind::FileTimeout) {
      r.status = FileStatus::TimedOut;
      r.chunk_error = intr_.message();
    } else if (intr_.kind() == InterruptKind::RunStopped) {
      r.status = FileStatus::Failed;
      r.chunk_error = intr_.message();
    } else {
      r.status = FileStatus::Failed;
      r.chunk_error =
          err.skip ? fmt::format("t:skip called at file scope: {}", err.skip_reason) : err.message;
      if (!err.skip) r.chunk_traceback = err.traceback;
    }
  }

  void run_test(lua::FileState& st, const TestDecl& t, TestResult& tr) {
    lua_State* L = st.L();
    tr.ran = true;
    if (s_.observer) s_.observer->test_started(file_, t.name, t.meta);
    auto started = steady_clock::now();
    std::optional<double> timeout = t.timeout ? t.timeout : ctx_.default_test_timeout;
    if (timeout && s_.watchdog && *timeout > 0) {
      s_.watchdog->set_test_deadline(
          *wd_, Clock::now() + duration_cast<Clock::duration>(duration<double>(*timeout)),
          fmt::format("test timed out after {}", util::format_duration(*timeout)));
    }
    // Enter the test scope: `provium` becomes test:<name>, falling through to the root.
    auto scope = std::make_shared<lab::Lab>("test:" + t.name, ctx_.root_lab);
    set_in_test(L, ctx_, &t.name);
    lua_getglobal(L, "_provium_open_test_scope");
    lua_call(L, 0, 0);
    lua::push_lab(L, scope);
    lua_setglobal(L, "provium");

    lua_rawgeti(L, LUA_REGISTRYINDEX, t.ref);
    lua_getfield(L, -1, "fn");
    lua_getglobal(L, "_provium_make_t");
    lua_pushstring(L, t.name.c_str());
    lua_getfield(L, -4, "meta");
    lua_call(L, 2, 1);
    lua_pushvalue(L, -1);
    int t_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    auto err = st.pcall(1);  // fn(t)
    lua_pop(L, 1);           // the test entry

    // The body has unwound: a test-level interrupt has done its job.
    InterruptKind kind = intr_.kind();
    std::string interrupt_msg = intr_.message();
    intr_.clear_test_level();
    if (s_.watchdog) s_.watchdog->clear_test_deadline(*wd_);
    if (!intr_.pending()) st.rearm_hook();

    lua_rawgeti(L, LUA_REGISTRYINDEX, t_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, t_ref);
    lua_getfield(L, -1, "_failure");
    std::optional<std::string> sticky;
    if (lua_isstring(L, -1)) sticky = lua_tostring(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, -1, "_log");
    for (lua_Integer i = 1, n = luaL_len(L, -1); i <= n; ++i) {
      lua_rawgeti(L, -1, i);
      tr.log.push_back(lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
      lua_pop(L, 1);
    }
    lua_pop(L, 2);

    if (kind != InterruptKind::None) {
      tr.status = TestStatus::Failed;
      tr.message = interrupt_msg;
    } else if (err && err->skip) {
      tr.status = sticky ? TestStatus::Failed : TestStatus::Skipped;
      tr.message = sticky ? *sticky : err->skip_reason;
    } else if (err) {
      tr.status = TestStatus::Failed;
      tr.message = err->message;
      // An assertion's own failure needs no traceback: it already names file:line.
      if (!(sticky && *sticky == err->message)) tr.traceback = err->traceback;
    } else if (sticky) {
      tr.status = TestStatus::Failed;
      tr.message = *sticky;
    } else {
      tr.status = TestStatus::Passed;
    }
    tr.duration = steady_clock::now() - started;

    // Leave the test scope: close what the body created, restore `provium`, collect garbage.
    call_scope_close(st, "_provium_close_test_scope", file_.display);
    HookPause pause(L);
    lua::push_lab(L, ctx_.root_lab);
    lua_setglobal(L, "provium");
    set_in_test(L, ctx_, nullptr);
    lua_gc(L, LUA_GCCOLLECT);
    lua_gc(L, LUA_GCCOLLECT);
    if (!baseline_.empty())
      if (auto err = baseline_.restore(ctx_); !err.empty())
        fmt::print(stderr,
                   "provium: warning: {}: reset_between_tests: restoring after `{}` failed: {}; "
                   "the following tests run against whatever state remains\n",
                   file_.display, t.name, err);
    if (s_.observer) s_.observer->test_finished(file_, tr);
  }

  void teardown_file(lua::FileState& st) {
    call_scope_close(st, "_provium_close_file_scope", file_.display);
    lab::shutdown_tree(ctx_, *ctx_.root_lab);
    HookPause pause(st.L());
    lua_gc(st.L(), LUA_GCCOLLECT);
  }

  const TestFile& file_;
  const FileRunSettings& s_;
  Interrupt& intr_;
  lua::FileContext ctx_;
  lab::ResetBaseline baseline_;  // declared after ctx_: its VMs are the context's
  std::optional<Watchdog::Handle> wd_;
};

}  // namespace

FileRunOutput run_file(const TestFile& file, const FileRunSettings& settings, Interrupt& interrupt,
                       std::function<void()> on_stuck) {
  Runner r(file, settings, interrupt);
  return r.run(std::move(on_stuck));
}

}  // namespace provium::runner
