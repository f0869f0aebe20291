// Listing stand-ins are derived from the method declarations (src/lua/api.hpp): every declared
// method of every class answers a stand-in of its declared result, with no argument at all,
// so any helper that works on a real VM keeps going while `provium list` evaluates it.
#include <gtest/gtest.h>

#include <lua.hpp>
#include <memory>
#include <set>
#include <string>

#include "lab/lab.hpp"
#include "lua/api.hpp"
#include "lua/context.hpp"
#include "lua/standins.hpp"
#include "lua/state.hpp"

namespace provium::lua {
namespace {

struct ListingState {
  config::Config cfg;
  FileContext ctx;
  std::unique_ptr<FileState> st;
  ListingState() {
    cfg.profiles["p"].name = "p";
    ctx.config = &cfg;
    ctx.listing = true;
    ctx.root_lab = std::make_shared<lab::Lab>("provium");
    st = std::make_unique<FileState>(&ctx, std::vector<std::string>{});
  }
  lua_State* L() { return st->L(); }
};

TEST(ListingStandins, EveryDeclaredMethodOfEveryClassAnswers) {
  ListingState s;
  lua_State* L = s.L();
  int calls = 0;
  for (auto* t : api_types()) {
    std::string cls = t->lua_class;
    if (cls == "Lab" || cls == "Vm" || cls == "Bridge") continue;  // real objects, below
    for (std::size_t i = 0; i < t->count; ++i) {
      push_listing_standin(L, cls.c_str(), cls.c_str());
      ASSERT_TRUE(lua_istable(L, -1)) << cls;
      lua_getfield(L, -1, t->methods[i].name);
      ASSERT_TRUE(lua_isfunction(L, -1)) << cls << ":" << t->methods[i].name;
      lua_insert(L, -2);
      EXPECT_EQ(lua_pcall(L, 1, LUA_MULTRET, 0), LUA_OK)
          << cls << ":" << t->methods[i].name << ": " << lua_tostring(L, -1);
      lua_settop(L, 0);
      ++calls;
    }
  }
  EXPECT_GT(calls, 50);
}

// Every Vm method that is not one of the few real ones (naming, state, boot) answers in a
// listing state even without arguments: none reaches a guest or the host, none raises.
TEST(ListingStandins, EveryGuestMethodOfARealVmIsAStandIn) {
  ListingState s;
  lua_State* L = s.L();
  const std::set<std::string> real = {"name", "profile",  "state", "cid",
                                      "boot", "shutdown", "close"};
  ASSERT_EQ(luaL_dostring(L, "return provium:vm('a', 'p')"), LUA_OK) << lua_tostring(L, -1);
  int vm = lua_gettop(L);
  int calls = 0;
  for (auto* t : api_types()) {
    if (std::string(t->lua_class) != "Vm") continue;
    for (std::size_t i = 0; i < t->count; ++i) {
      std::string name = t->methods[i].name;
      if (real.count(name) || name == "batch") continue;  // batch needs its function
      lua_getfield(L, vm, name.c_str());
      lua_pushvalue(L, vm);
      EXPECT_EQ(lua_pcall(L, 1, LUA_MULTRET, 0), LUA_OK)
          << "vm:" << name << ": " << lua_tostring(L, -1);
      lua_settop(L, vm);
      ++calls;
    }
  }
  EXPECT_GT(calls, 30);
}

TEST(ListingStandins, VmGuestMethodsReturnTheRealShapes) {
  ListingState s;
  lua_State* L = s.L();
  const char* chunk = R"lua(
    local vm = provium:vm("a", "p")
    assert(vm:boot() == vm)
    local r = vm:run("x")
    assert(r.exit_code == 0 and r.stdout == "" and r:ok() and r:assert_ok() == r)
    local sc = vm:syscall(0, {args = {0, 0, 3}, bufs = {"abc", "de"}, ptrs = {1}})
    assert(sc.ret == 0 and sc.errno == 0 and #sc.out_bufs == 2 and sc.out_bufs[2] == "de")
    local p = vm:run_async("x")
    assert(p:wait().exit_code == 0 and p:stdout_stream():read_until("x") == "")
    local items = vm:batch(function(b) b:run("a") b:read_file("/f") b:stat("/") end)
    assert(#items == 3 and items[1].ok.exit_code == 0 and items[2].ok == "")
    assert(vm:spawn_worker():run("x"):ok())
    assert(wait_until(function() error("never called") end))
    assert(vm:name() == "a")
    return true
  )lua";
  ASSERT_EQ(luaL_loadstring(L, chunk), LUA_OK);
  ASSERT_EQ(lua_pcall(L, 0, 1, 0), LUA_OK) << lua_tostring(L, -1);
  EXPECT_TRUE(lua_toboolean(L, -1));
}

}  // namespace
}  // namespace provium::lua
