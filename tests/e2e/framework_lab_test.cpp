// End-to-end tests of the Lab and VM objects that need no VM backend (REFERENCE §5.1-5.3,
// §5.18, §5.19): names, scopes, VM declaration and lookup, state texts, claim and barrier.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "json_support.hpp"

using namespace provium::e2e;

namespace {

const char* kConfig =
    "[profiles.p]\nkernel = \"/nonexistent\"\ncmdline = \"console=ttyS0\"\n"
    "[profiles.q]\nkernel = \"/nonexistent\"\ncmdline = \"console=ttyS0\"\n";

// Writes provium.toml and lab.test.lua, runs it, and expects every test in it to pass.
RunOutput run_lab_file(Project& p, const std::string& body) {
  p.write("provium.toml", kConfig);
  p.write("lab.test.lua", body);
  auto r = p.run({"--json"});
  EXPECT_EQ(r.exit_code, 0) << dump(r);
  EXPECT_EQ(r.signal, 0) << dump(r);
  auto f = file_of(r, "lab.test.lua");
  EXPECT_TRUE(f.is_object()) << dump(r);
  if (!f.is_object()) return r;
  EXPECT_TRUE(f["chunk_error"].is_null()) << dump(r);
  EXPECT_FALSE(f["tests"].empty()) << dump(r);
  for (auto& t : f["tests"]) EXPECT_EQ(t["status"], "passed") << t.dump();
  return r;
}

}  // namespace

TEST(FrameworkLab, NamesAndScopes) {
  Project p;
  run_lab_file(p, R"lua(
local root = provium
local root_name = provium:name()
test("root lab name", function(t)
  t:assert_eq(root_name, "provium")
  t:assert_eq(root:name(), "provium")
end)
test("scope name", function(t)
  t:assert_eq(provium:name(), "test:scope name")
  t:assert(provium ~= root, "provium not replaced inside a test")
end)
test("restored after test", function(t)
  t:assert_eq(root:name(), "provium")
end)
)lua");
}

TEST(FrameworkLab, CreateVmAndTexts) {
  Project p;
  run_lab_file(p, R"lua(
local a = provium:vm("a", "p")
local file_lab_text = tostring(provium)
test("vm created", function(t)
  t:assert_eq(tostring(a), "vm(a state=created cid=-)")
  t:assert_eq(file_lab_text, "lab(provium; 1 vm(s))")
end)
test("lookup falls through to root", function(t)
  t:assert(provium:vm("a") == a or tostring(provium:vm("a")) == tostring(a))
  t:assert_eq(tostring(provium.a), "vm(a state=created cid=-)")
  t:assert_eq(provium.nothing_here, nil)
end)
test("test scope counts its own vms", function(t)
  t:assert_eq(tostring(provium), "lab(test:test scope counts its own vms; 0 vm(s))")
  local b = provium:vm("b", "q")
  t:assert_eq(tostring(b), "vm(b state=created cid=-)")
  t:assert_eq(tostring(provium), "lab(test:test scope counts its own vms; 1 vm(s))")
end)
test("test-scope vm is gone afterwards", function(t)
  local ok, e = pcall(function() return provium:vm("b") end)
  t:assert_eq(ok, false)
  t:assert_contains(tostring(e), "b")
end)
)lua");
}

TEST(FrameworkLab, MembersAndNames) {
  Project p;
  run_lab_file(p, R"lua(
provium:vm("zeta", "p")
provium:vm("alpha", "q")
local names = provium:vm_names()
local members = provium:members()
test("vm_names", function(t)
  t:assert_eq(table.concat(names, ","), "alpha,zeta")
end)
test("members", function(t)
  t:assert_eq(#members, 2)
  local seen = {}
  for _, m in ipairs(members) do
    t:assert_eq(m.kind, "vm")
    seen[#seen + 1] = m.name
  end
  table.sort(seen)
  t:assert_eq(table.concat(seen, ","), "alpha,zeta")
end)
test("scope members do not walk parents", function(t)
  t:assert_eq(#provium:vm_names(), 0)
  t:assert_eq(#provium:members(), 0)
end)
)lua");
}

TEST(FrameworkLab, VmDeclarationErrors) {
  Project p;
  run_lab_file(p, R"lua(
provium:vm("a", "p")
test("unknown profile names it", function(t)
  local e = t:assert_raises(function() provium:vm("x", "no_such_profile") end)
  t:assert_contains(tostring(e), "no_such_profile")
end)
test("duplicate in same scope", function(t)
  provium:vm("dup", "p")
  local e = t:assert_raises(function() provium:vm("dup", "p") end)
  t:assert_contains(tostring(e), "dup")
end)
test("shadowing a file-scope name", function(t)
  local e = t:assert_raises(function() provium:vm("a", "q") end)
  t:assert_contains(tostring(e), "already declared at a parent scope")
  t:assert_contains(tostring(e), "provium")
  t:assert_contains(tostring(e), 'provium:vm("a")')
end)
test("lookup of missing vm names it", function(t)
  local e = t:assert_raises(function() provium:vm("ghost") end)
  t:assert_contains(tostring(e), "ghost")
end)
)lua");
}

TEST(FrameworkLab, DuplicateVmAtFileScopeIsChunkError) {
  Project p;
  p.write("provium.toml", kConfig);
  p.write("dupvm.test.lua", "provium:vm(\"a\", \"p\")\nprovium:vm(\"a\", \"p\")\n");
  auto r = p.run({"--json"});
  EXPECT_EQ(r.exit_code, 1) << dump(r);
  auto f = file_of(r, "dupvm.test.lua");
  ASSERT_TRUE(f.is_object()) << dump(r);
  ASSERT_TRUE(f["chunk_error"].is_string()) << dump(r);
  EXPECT_NE(f["chunk_error"].get<std::string>().find("dupvm.test.lua:2:"), std::string::npos)
      << dump(r);
}

TEST(FrameworkLab, GuestOpsOnCreatedVm) {
  Project p;
  run_lab_file(p, R"lua(
local a = provium:vm("a", "p")
test("run", function(t)
  local e = t:assert_raises(function() a:run("true") end)
  t:assert_contains(tostring(e), "VM not booted")
end)
test("read_file", function(t)
  local e = t:assert_raises(function() a:read_file("/etc/hostname") end)
  t:assert_contains(tostring(e), "VM not booted")
end)
test("methods are plain fields", function(t)
  local ok, e = pcall(a.read_file, a, "/etc/hostname")
  t:assert_eq(ok, false)
  t:assert_contains(tostring(e), "VM not booted")
end)
test("shutdown is idempotent from created", function(t)
  local b = provium:vm("b", "p")
  b:shutdown()
  b:shutdown()
  local e = t:assert_raises(function() b:run("true") end)
  t:assert_contains(tostring(e), "VM is shutdown; create a new one")
  local e2 = t:assert_raises(function() b:boot() end)
  t:assert_contains(tostring(e2), "VM is shutdown; create a new one")
end)
test("state still created", function(t)
  t:assert_eq(tostring(a), "vm(a state=created cid=-)")
end)
)lua");
}

TEST(FrameworkLab, Claim) {
  Project p;
  run_lab_file(p, R"lua(
test("bad key names accepted keys", function(t)
  local e = t:assert_raises(function() provium:claim{memory_bytes = 1} end)
  e = tostring(e)
  t:assert_contains(e, "memory_bytes")
  t:assert_contains(e, "memory")
  t:assert_contains(e, "cpus")
end)
test("second claim raises", function(t)
  provium:claim{memory = "1M", cpus = 1}
  local e = t:assert_raises(function() provium:claim{cpus = 1} end)
  t:assert_contains(tostring(e), "lab claim already held; one-shot per lab")
end)
test("still held in the next test", function(t)
  local e = t:assert_raises(function() provium:claim{} end)
  t:assert_contains(tostring(e), "lab claim already held; one-shot per lab")
end)
)lua");
}

TEST(FrameworkLab, Barrier) {
  Project p;
  auto start = std::chrono::steady_clock::now();
  run_lab_file(p, R"lua(
test("count one releases at once", function(t)
  t:assert_eq(provium:barrier("b", 1), true)
  t:assert_eq(provium:barrier("b", 1), true)
end)
test("count two returns false promptly", function(t)
  t:assert_eq(provium:barrier("pair", 2), false)
  t:assert_eq(provium:barrier("pair", 2, 30), false)
end)
)lua");
  // The default barrier timeout is 60 s; ours must not wait it out.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(FrameworkLab, SubLabs) {
  Project p;
  run_lab_file(p, R"lua(
local anon = provium:lab()
local named = provium:lab("net")
local anon2 = provium:lab()
local sub_names = table.concat(provium:sub_lab_names(), ",")
local root = provium
test("names", function(t)
  t:assert_eq(anon:name(), "__lab_0")
  t:assert_eq(anon2:name(), "__lab_1")
  t:assert_eq(named:name(), "net")
  t:assert_eq(sub_names, "__lab_0,__lab_1,net")
  t:assert_eq(#provium:sub_lab_names(), 0)
  local kinds = {}
  for _, m in ipairs(root:members()) do kinds[#kinds + 1] = m.kind end
  t:assert_eq(table.concat(kinds, ","), "sub_lab,sub_lab,sub_lab")
end)
test("sub-lab vms", function(t)
  local v = named:vm("inner", "p")
  t:assert_eq(tostring(named), "lab(net; 1 vm(s))")
  t:assert_eq(table.concat(named:vm_names(), ","), "inner")
  local kinds = {}
  for _, m in ipairs(provium.net:members()) do kinds[#kinds + 1] = m.kind .. ":" .. m.name end
  t:assert_eq(table.concat(kinds, ","), "vm:inner")
end)
)lua");
}

TEST(FrameworkLab, PackUnpack) {
  Project p;
  run_lab_file(p, R"lua(
test("pack", function(t)
  local s = provium:pack("<I4", 258)
  t:assert_eq(s, "\2\1\0\0")
  t:assert_eq(provium:unpack("<I4", s), 258)
end)
)lua");
}
