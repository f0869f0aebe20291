// The lab domain (src/lab) without Lua and without VMs: boots, lab snapshots and their
// rollbacks, reset baselines and boot requests, against the scriptable FakeBackend.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <string>
#include <typeinfo>
#include <vector>

#include "config/config.hpp"
#include "fake_backend.hpp"
#include "lab/boot.hpp"
#include "lab/lab.hpp"
#include "lab/lab_snapshot.hpp"
#include "lab/reset_baseline.hpp"
#include "lab/session.hpp"
#include "lab/vm.hpp"
#include "unit_support.hpp"

namespace provium::lab {

// Readable states in failure messages (found by argument-dependent lookup).
[[maybe_unused]] static void PrintTo(VmState st, std::ostream* os) { *os << to_string(st); }

namespace {

namespace fs = std::filesystem;
using unit::FakeBackend;

constexpr std::uint64_t kMiB = 1ull << 20;

bool has(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

/// The text of the provium::Error `f` throws; a failure when it throws nothing or another type.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a " << typeid(e).name() << ", not a provium::Error: " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "did not throw";
  return {};
}

std::set<std::string> files_in(const fs::path& dir) {
  std::set<std::string> out;
  for (auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

class LabDomain : public ::testing::Test {
 protected:
  LabDomain() {
    config::Profile p;
    p.name = "p";
    cfg.profiles["p"] = p;
    config::Profile slow;
    slow.name = "slow";
    slow.agent_boot_timeout = 42.0;
    cfg.profiles["slow"] = slow;
    s.config = &cfg;
    s.backend = &backend;
    s.file = "tests/lab_domain.lua";
    s.root_lab = std::make_shared<Lab>("provium");
  }

  /// A new VM of profile `p` in `lab`.
  VmPtr add_vm(Lab& lab, const std::string& name, std::uint64_t memory = 512 * kMiB,
               std::uint32_t cpus = 1, events::MetaMap opts = {},
               const std::string& profile = "p") {
    auto vm = std::make_shared<Vm>(name, profile, lab.name(), memory, cpus, std::move(opts));
    lab.add_vm(vm);
    return vm;
  }
  VmPtr add_vm(const std::string& name) { return add_vm(*s.root_lab, name); }

  /// Boots `vms` through lab::boot_vms as lab:boot does.
  void boot(const std::vector<VmPtr>& vms) {
    std::vector<vmm::BootRequest> reqs;
    for (auto& vm : vms) reqs.push_back(boot_request(s, *vm, vm->memory(), vm->cpus(), {}));
    boot_vms(s, vms, std::move(reqs));
  }

  unit::TempDir tmp;
  unit::ScopedEnv tmpdir{"TMPDIR", tmp.path().string()};  // reset baselines go here
  config::Config cfg;
  FakeBackend backend;  // outlives the session's machines
  Session s;
};

// --- 1. a failing lab snapshot --------------------------------------------------------------

TEST_F(LabDomain, FailedSaveResumesEveryVmAndRemovesTheDirectoryItCreated) {
  auto a = add_vm("a"), b = add_vm("b"), c = add_vm("c");
  boot({a, b, c});
  backend.fail_snapshot("b");
  fs::path dir = tmp.path() / "snap";

  std::string err = error_of([&] { save_lab(*s.root_lab, dir.string()); });
  EXPECT_TRUE(has(err, "vm `b`")) << err;
  EXPECT_TRUE(has(err, "fake snapshot failure")) << err;

  for (auto& vm : {a, b, c}) {
    EXPECT_EQ(vm->state(), VmState::Booted) << vm->name();
    auto m = backend.last_machine(vm->name());
    ASSERT_TRUE(m);
    EXPECT_EQ(m->pauses, 1) << vm->name();
    EXPECT_EQ(m->resumes, 1) << vm->name();
    EXPECT_FALSE(m->paused) << vm->name();
  }
  EXPECT_FALSE(fs::exists(dir)) << "the directory this save created must go again";
}

TEST_F(LabDomain, FailedSaveIntoAnExistingDirectoryLeavesOnlyWhatWasThere) {
  auto a = add_vm("a"), b = add_vm("b"), c = add_vm("c");
  boot({a, b, c});
  backend.fail_snapshot("b");
  fs::path dir = tmp.path() / "snap";
  write_file(dir / "keep.txt", "mine");

  std::string err = error_of([&] { save_lab(*s.root_lab, dir.string()); });
  EXPECT_TRUE(has(err, "vm `b`")) << err;

  for (auto& vm : {a, b, c}) {
    EXPECT_EQ(vm->state(), VmState::Booted) << vm->name();
    EXPECT_EQ(backend.last_machine(vm->name())->resumes, 1) << vm->name();
  }
  ASSERT_TRUE(fs::is_directory(dir)) << "a directory that existed before must stay";
  EXPECT_EQ(files_in(dir), std::set<std::string>{"keep.txt"})
      << "no snapshot file (torn or whole) and no lab.json may stay";
}

TEST_F(LabDomain, SaveLeavesAPausedVmPausedAndRefusesALabWithNothingRunning) {
  auto a = add_vm("a"), b = add_vm("b");
  boot({a, b});
  b->pause();
  fs::path dir = tmp.path() / "snap";
  save_lab(*s.root_lab, dir.string());
  EXPECT_EQ(a->state(), VmState::Booted);
  EXPECT_EQ(b->state(), VmState::Paused);
  EXPECT_EQ(backend.last_machine("b")->resumes, 0);
  EXPECT_TRUE(backend.last_machine("b")->paused);

  Lab empty("idle");
  std::string err = error_of([&] { save_lab(empty, (tmp.path() / "none").string()); });
  EXPECT_TRUE(has(err, "lab `idle` has no booted VM to save")) << err;
  EXPECT_FALSE(fs::exists(tmp.path() / "none"));
}

// A pause that fails (QMP `stop` refused, a dead guest) is a failure of the save like any
// other: REFERENCE says every VM is resumed as it was and nothing half-written stays.
TEST_F(LabDomain, FailedPauseResumesTheOthersAndRemovesTheDirectory) {
  auto a = add_vm("a"), b = add_vm("b"), c = add_vm("c");
  boot({a, b, c});
  backend.fail_pause("b");
  fs::path dir = tmp.path() / "snap";

  EXPECT_THROW(save_lab(*s.root_lab, dir.string()), std::exception);
  for (auto& vm : {a, b, c}) {
    EXPECT_EQ(vm->state(), VmState::Booted) << vm->name();
    EXPECT_FALSE(backend.last_machine(vm->name())->paused) << vm->name();
  }
  EXPECT_FALSE(fs::exists(dir));
}

// --- 2. a lab snapshot round trip -------------------------------------------------------------

TEST_F(LabDomain, SaveAndRestoreLabWithASubLab) {
  auto a = add_vm(*s.root_lab, "a", 256 * kMiB, 2);
  auto b = add_vm("b");
  auto sub = s.root_lab->add_sub_lab("sub");
  auto leaf = add_vm(*sub, "leaf", 128 * kMiB, 1);
  boot({a, b, leaf});
  fs::path dir = tmp.path() / "snap";

  save_lab(*s.root_lab, dir.string());

  auto doc = read_json(dir / "lab.json");
  EXPECT_EQ(doc.at("format_version"), 1);
  ASSERT_EQ(doc.at("vms").size(), 3u);
  std::set<std::string> names, files;
  for (auto& v : doc.at("vms")) {
    names.insert(v.at("vm_name").get<std::string>());
    files.insert(v.at("snapshot_path").get<std::string>());
    if (v.at("vm_name") == "a") {
      EXPECT_EQ(v.at("memory_bytes"), 256 * kMiB);
      EXPECT_EQ(v.at("cpus"), 2);
      EXPECT_EQ(v.at("profile"), "p");
    }
  }
  EXPECT_EQ(names, (std::set<std::string>{"a", "b", "sub/leaf"}));
  EXPECT_EQ(doc.at("bridges"), nlohmann::json::array());
  for (auto& f : files) {
    EXPECT_FALSE(has(f, "/")) << f << ": paths are relative to the directory, one level";
    EXPECT_TRUE(fs::is_regular_file(dir / f)) << f;
  }
  auto on_disk = files_in(dir);
  EXPECT_EQ(on_disk.size(), 4u) << "lab.json and one file per VM";
  EXPECT_TRUE(on_disk.count("lab.json"));
  for (auto& vm : {a, b, leaf}) {
    EXPECT_EQ(vm->state(), VmState::Booted) << vm->name();
    EXPECT_EQ(backend.last_machine(vm->name())->snapshots, 1) << vm->name();
  }

  auto fresh = std::make_shared<Lab>("provium");
  std::vector<VmPtr> seen;
  restore_lab(s, fresh, dir.string(), [&](const VmPtr& vm) { seen.push_back(vm); });

  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(fresh->vm_names(), (std::vector<std::string>{"a", "b"}));
  auto rsub = fresh->find_sub_lab("sub");
  ASSERT_TRUE(rsub) << "the sub-lab is created";
  ASSERT_TRUE(rsub->find_vm("leaf"));
  EXPECT_EQ(rsub->find_vm("leaf")->lab(), "sub");
  EXPECT_EQ(rsub->find_vm("leaf")->memory(), 128 * kMiB);
  EXPECT_FALSE(fresh->find_vm("leaf")) << "the leaf belongs to the sub-lab only";
  for (auto& vm : seen) {
    EXPECT_EQ(vm->state(), VmState::Booted) << vm->name();
    auto m = backend.last_machine(vm->name());
    ASSERT_TRUE(m);
    EXPECT_TRUE(m->from_restore) << vm->name();
    EXPECT_EQ(vm->cid(), m->cid) << vm->name();
  }
  auto ra = fresh->find_vm("a");
  EXPECT_EQ(ra->memory(), 256 * kMiB);
  EXPECT_EQ(ra->cpus(), 2u);
  EXPECT_EQ(fs::path(backend.last_machine("leaf")->restored_from).filename(), "sub~leaf.snap");
  // Additive: the saved lab itself is untouched.
  for (auto& vm : {a, b, leaf}) EXPECT_EQ(vm->state(), VmState::Booted) << vm->name();
}

// --- 3. a lab restore that rolls back ---------------------------------------------------------

TEST_F(LabDomain, FailedRestoreRemovesAndShutsDownEveryVmItMade) {
  auto a = add_vm("a"), b = add_vm("b"), c = add_vm("c");
  boot({a, b, c});
  fs::path dir = tmp.path() / "snap";
  save_lab(*s.root_lab, dir.string());
  backend.fail_restore("b");

  auto fresh = std::make_shared<Lab>("provium");
  std::vector<VmPtr> seen;
  std::string err = error_of(
      [&] { restore_lab(s, fresh, dir.string(), [&](const VmPtr& vm) { seen.push_back(vm); }); });
  EXPECT_TRUE(has(err, "(every VM and bridge of this restore was removed again)")) << err;
  EXPECT_TRUE(has(err, "vm `b`")) << err;

  EXPECT_TRUE(fresh->vms().empty());
  ASSERT_EQ(seen.size(), 3u);
  for (auto& vm : seen) {
    EXPECT_EQ(vm->state(), VmState::Shutdown) << vm->name();
    EXPECT_EQ(vm->machine(), nullptr) << vm->name();
  }
  for (const char* name : {"a", "c"}) {
    auto m = backend.last_machine(name);
    ASSERT_TRUE(m && m->from_restore) << name << " was restored before the rollback";
    EXPECT_EQ(m->shutdowns, 1) << name;
    EXPECT_TRUE(m->destroyed) << name;
  }
  EXPECT_FALSE(backend.last_machine("b")->from_restore) << "b's restore never made a machine";
  // The saved lab is untouched and the snapshot can be restored once the fault is gone.
  for (auto& vm : {a, b, c}) EXPECT_EQ(vm->state(), VmState::Booted) << vm->name();
  backend.clear_failures();
  restore_lab(s, fresh, dir.string(), nullptr);
  EXPECT_EQ(fresh->vm_names(), (std::vector<std::string>{"a", "b", "c"}));
}

// The rollback promises the lab is as before; a sub-lab the restore created for "sub/leaf" is
// part of what it made: its name must not stay taken in the target lab.
TEST_F(LabDomain, FailedRestoreRemovesTheSubLabItCreated) {
  auto a = add_vm("a");
  auto sub = s.root_lab->add_sub_lab("sub");
  auto leaf = add_vm(*sub, "leaf");
  boot({a, leaf});
  fs::path dir = tmp.path() / "snap";
  save_lab(*s.root_lab, dir.string());
  backend.fail_restore("a");

  auto fresh = std::make_shared<Lab>("provium");
  std::string err = error_of([&] { restore_lab(s, fresh, dir.string(), nullptr); });
  EXPECT_TRUE(has(err, "removed again")) << err;
  EXPECT_TRUE(fresh->vms().empty());
  EXPECT_TRUE(fresh->sub_labs().empty()) << "left behind: sub-lab `sub`";
  EXPECT_NO_THROW(fresh->add_sub_lab("sub")) << "the name `sub` must be free again";
}

TEST_F(LabDomain, RestoreIntoALabWithTheSameVmNameFailsBeforeStartingAnything) {
  auto a = add_vm("a"), b = add_vm("b");
  boot({a, b});
  fs::path dir = tmp.path() / "snap";
  save_lab(*s.root_lab, dir.string());
  auto requests_before = backend.requests().size();
  auto machines_before = backend.machine_count();

  auto target = std::make_shared<Lab>("provium");
  auto existing = add_vm(*target, "b");
  int new_vms = 0;
  std::string err =
      error_of([&] { restore_lab(s, target, dir.string(), [&](const VmPtr&) { ++new_vms; }); });
  EXPECT_TRUE(has(err, "a VM named `b` already exists in lab `provium`")) << err;
  EXPECT_EQ(new_vms, 0);
  EXPECT_EQ(target->vm_names(), (std::vector<std::string>{"b"}));
  EXPECT_EQ(target->find_vm("b"), existing);
  EXPECT_EQ(existing->state(), VmState::Created);
  EXPECT_EQ(backend.requests().size(), requests_before) << "no restore was started";
  EXPECT_EQ(backend.machine_count(), machines_before);
}

// --- 4. missing or malformed lab.json ----------------------------------------------------------

TEST_F(LabDomain, MissingLabJsonNamesThePath) {
  auto lab = std::make_shared<Lab>("provium");
  fs::path empty_dir = tmp.path() / "empty";
  fs::create_directories(empty_dir);
  for (auto& dir : {empty_dir, tmp.path() / "nowhere"}) {
    std::string err = error_of([&] { restore_lab(s, lab, dir.string(), nullptr); });
    EXPECT_TRUE(has(err, "`" + dir.string() + "/lab.json`")) << err;
    EXPECT_TRUE(has(err, "No such file or directory")) << err;
  }
  EXPECT_TRUE(lab->vms().empty());
  EXPECT_EQ(backend.machine_count(), 0u);
}

TEST_F(LabDomain, MalformedLabJsonIsNotAProviumLabSnapshot) {
  auto lab = std::make_shared<Lab>("provium");
  for (std::string text : {"this is { not json", "[1, 2]", R"({"format_version": 2, "vms": []})",
                           R"({"vms": []})", R"({"format_version": 1})"}) {
    fs::path dir = tmp.path() / "bad";
    write_file(dir / "lab.json", text);
    std::string err = error_of([&] { restore_lab(s, lab, dir.string(), nullptr); });
    EXPECT_TRUE(has(err, "`" + dir.string() + "/lab.json` is not a provium lab snapshot"))
        << text << " -> " << err;
  }
  EXPECT_TRUE(lab->vms().empty());
}

TEST_F(LabDomain, LabJsonEntriesAreCheckedBeforeAnythingJoinsTheLab) {
  auto lab = std::make_shared<Lab>("provium");
  fs::path dir = tmp.path() / "bad";
  write_file(dir / "lab.json",
             R"({"format_version": 1, "vms": [{"vm_name": "a", "profile": "p"}]})");
  std::string err = error_of([&] { restore_lab(s, lab, dir.string(), nullptr); });
  EXPECT_TRUE(has(err, "a VM entry lacks its name or file")) << err;

  write_file(dir / "lab.json", R"({"format_version": 1, "vms": [
      {"vm_name": "a", "profile": "p", "snapshot_path": "a.snap"},
      {"vm_name": "b", "profile": "nope", "snapshot_path": "b.snap"}]})");
  err = error_of([&] { restore_lab(s, lab, dir.string(), nullptr); });
  EXPECT_TRUE(has(err, "vm `b` needs profile `nope`")) << err;
  EXPECT_TRUE(lab->vms().empty());
  EXPECT_TRUE(lab->sub_labs().empty());
}

// REFERENCE: when anything fails, every VM this call made is removed again; an entry with
// `"cpus": 0` is refused before any VM joins the lab.
TEST_F(LabDomain, LabJsonWithZeroCpusLeavesNoVmBehind) {
  auto lab = std::make_shared<Lab>("provium");
  fs::path dir = tmp.path() / "bad";
  write_file(dir / "lab.json", R"({"format_version": 1, "vms": [
      {"vm_name": "a", "profile": "p", "snapshot_path": "a.snap", "cpus": 1},
      {"vm_name": "b", "profile": "p", "snapshot_path": "b.snap", "cpus": 0}]})");
  std::string err = error_of([&] { restore_lab(s, lab, dir.string(), nullptr); });
  EXPECT_TRUE(has(err, "cpus must be at least 1")) << err;
  EXPECT_TRUE(lab->vms().empty()) << "left behind: " << lab->vm_names().size() << " VM(s)";
}

// A lab.json whose fields have the wrong JSON type is "not a provium lab snapshot" too.
TEST_F(LabDomain, LabJsonWithWrongFieldTypesGivesAnError) {
  auto lab = std::make_shared<Lab>("provium");
  for (std::string text :
       {R"({"format_version": "1", "vms": []})", R"({"format_version": 1, "vms": [42]})",
        R"({"format_version": 1, "vms": [{"vm_name": 7}]})"}) {
    fs::path dir = tmp.path() / "bad";
    write_file(dir / "lab.json", text);
    std::string err = error_of([&] { restore_lab(s, lab, dir.string(), nullptr); });
    EXPECT_TRUE(has(err, "lab.json")) << text << " -> " << err;
  }
}

// --- 5. reset baselines ------------------------------------------------------------------------

TEST_F(LabDomain, ResetBaselineBringsBackAVmTheTestShutDown) {
  auto a = add_vm("a"), b = add_vm("b");
  boot({a, b});
  auto b_first = backend.last_machine("b");
  std::string dir;
  {
    ResetBaseline rb;
    rb.take(*s.root_lab);
    dir = rb.dir();
    ASSERT_FALSE(rb.empty());
    ASSERT_TRUE(fs::is_directory(dir));
    EXPECT_EQ(fs::path(dir).parent_path(), tmp.path()) << "under $TMPDIR";
    EXPECT_EQ(files_in(dir), (std::set<std::string>{"a.snap", "b.snap"}));
    for (auto& vm : {a, b}) EXPECT_EQ(vm->state(), VmState::Booted) << vm->name();

    // The test shuts one VM down.
    shutdown_and_report(s, *a);
    ASSERT_EQ(a->state(), VmState::Shutdown);

    EXPECT_EQ(rb.restore(s), "");
    for (auto& vm : {a, b}) {
      EXPECT_EQ(vm->state(), VmState::Booted) << vm->name();
      auto m = backend.last_machine(vm->name());
      EXPECT_TRUE(m->from_restore) << vm->name();
      EXPECT_EQ(vm->cid(), m->cid) << vm->name();
    }
    EXPECT_EQ(b_first->shutdowns, 1) << "the guest b ran is replaced, not kept";
    EXPECT_TRUE(b_first->destroyed);

    // And again after the next test.
    EXPECT_EQ(rb.restore(s), "");
    EXPECT_EQ(backend.machines_of("a").size(), 3u);
    EXPECT_EQ(a->state(), VmState::Booted);
  }
  EXPECT_FALSE(fs::exists(dir)) << "the baseline goes with the ResetBaseline";
}

TEST_F(LabDomain, ResetBaselineReportsAVmThatCannotBeRestored) {
  auto a = add_vm("a"), b = add_vm("b");
  boot({a, b});
  ResetBaseline rb;
  rb.take(*s.root_lab);
  backend.fail_restore("a");
  std::string problems = rb.restore(s);
  EXPECT_TRUE(has(problems, "vm `a`")) << problems;
  EXPECT_TRUE(has(problems, "fake restore failure")) << problems;
  EXPECT_FALSE(has(problems, "vm `b`")) << problems;
  EXPECT_EQ(b->state(), VmState::Booted);
}

TEST_F(LabDomain, ResetBaselineOfALabWithNothingRunningIsEmpty) {
  add_vm("a");  // never booted
  ResetBaseline rb;
  rb.take(*s.root_lab);
  EXPECT_TRUE(rb.empty());
  EXPECT_EQ(rb.dir(), "");
  EXPECT_EQ(rb.restore(s), "");
}

// --- 6. boot_vms with a failing boot -----------------------------------------------------------

TEST_F(LabDomain, FailedBootShutsDownTheOthersAndLeavesTheFailedVmBootable) {
  auto a = add_vm("a"), b = add_vm("b"), c = add_vm("c");
  backend.fail_boot("b");

  std::string err = error_of([&] { boot({a, b, c}); });
  EXPECT_EQ(err, "vm `b`: fake boot failure");

  for (auto& vm : {a, c}) {
    EXPECT_EQ(vm->state(), VmState::Shutdown) << vm->name();
    auto m = backend.last_machine(vm->name());
    ASSERT_TRUE(m) << vm->name() << " booted before the undo";
    EXPECT_EQ(m->shutdowns, 1) << vm->name();
    EXPECT_TRUE(m->destroyed) << vm->name();
  }
  EXPECT_EQ(b->state(), VmState::Created);
  EXPECT_EQ(b->refusal(VmOp::Boot), std::nullopt);
  EXPECT_EQ(backend.last_machine("b"), nullptr);

  backend.clear_failures();
  boot({b});
  EXPECT_EQ(b->state(), VmState::Booted);
}

TEST_F(LabDomain, BootVmsBootsEveryVmWithItsOwnRequest) {
  auto a = add_vm(*s.root_lab, "a", 256 * kMiB, 2), b = add_vm("b");
  boot({a, b});
  for (auto& vm : {a, b}) {
    EXPECT_EQ(vm->state(), VmState::Booted) << vm->name();
    EXPECT_EQ(vm->cid(), backend.last_machine(vm->name())->cid);
  }
  EXPECT_NE(a->cid(), b->cid());
  auto reqs = backend.requests();
  ASSERT_EQ(reqs.size(), 2u);
  for (auto& r : reqs) {
    EXPECT_EQ(r.file, "tests/lab_domain.lua");
    EXPECT_EQ(r.lab, "provium");
    EXPECT_TRUE(r.nics.empty());
    if (r.vm_name == "a") {
      EXPECT_EQ(r.cpus, 2u);
    }
  }
}

// --- 7. boot_request ---------------------------------------------------------------------------

TEST_F(LabDomain, BootRequestRefusesZeroCpus) {
  auto vm = add_vm("a");
  EXPECT_EQ(error_of([&] { boot_request(s, *vm, 512 * kMiB, 0, {}); }), "cpus must be at least 1");
}

TEST_F(LabDomain, BootRequestFloorsMemoryToMiBAndAtLeastOneMiB) {
  auto vm = add_vm("a");
  EXPECT_EQ(boot_request(s, *vm, 512 * kMiB, 1, {}).memory_bytes, 512 * kMiB);
  EXPECT_EQ(boot_request(s, *vm, 512 * kMiB + 123, 1, {}).memory_bytes, 512 * kMiB);
  EXPECT_EQ(boot_request(s, *vm, 3 * kMiB - 1, 1, {}).memory_bytes, 2 * kMiB);
  EXPECT_EQ(boot_request(s, *vm, 1000, 1, {}).memory_bytes, kMiB);
  EXPECT_EQ(boot_request(s, *vm, 0, 1, {}).memory_bytes, kMiB);
}

TEST_F(LabDomain, BootRequestBootOptionsOverrideCreationOptions) {
  events::MetaMap create;
  create["kernel_cmdline"] = "quiet";
  create["rng_seed"] = 1;
  auto vm = add_vm(*s.root_lab, "a", 512 * kMiB, 1, create);
  events::MetaMap at_boot;
  at_boot["rng_seed"] = 7;
  at_boot["initial_time"] = "2024-01-01T00:00:00Z";

  auto req = boot_request(s, *vm, 64 * kMiB, 3, at_boot);
  EXPECT_EQ(req.options.size(), 3u);
  EXPECT_EQ(req.options.at("rng_seed"), events::MetaValue{7});
  EXPECT_EQ(req.options.at("kernel_cmdline"), events::MetaValue{"quiet"});
  EXPECT_EQ(req.options.at("initial_time"), events::MetaValue{"2024-01-01T00:00:00Z"});
  EXPECT_EQ(req.cpus, 3u);
  EXPECT_EQ(req.memory_bytes, 64 * kMiB);
  EXPECT_EQ(req.vm_name, "a");
  EXPECT_EQ(req.lab, "provium");
  EXPECT_EQ(req.file, "tests/lab_domain.lua");
  EXPECT_EQ(req.profile, &cfg.profiles.at("p"));
  EXPECT_EQ(vm->create_opts().at("rng_seed"), events::MetaValue{1}) << "the VM keeps its own";
}

TEST_F(LabDomain, BootRequestAgentTimeout) {
  auto vm = add_vm("a");
  auto with = [](events::MetaValue v) {
    events::MetaMap m;
    m["agent_timeout"] = std::move(v);
    return m;
  };
  for (events::MetaValue bad :
       {events::MetaValue{0}, events::MetaValue{-1}, events::MetaValue{-0.5},
        events::MetaValue{0.0}, events::MetaValue{"10"}, events::MetaValue{true}}) {
    std::string err = error_of([&] { boot_request(s, *vm, kMiB, 1, with(bad)); });
    EXPECT_EQ(err, "agent_timeout must be a positive number of seconds") << to_display(bad);
  }
  EXPECT_EQ(boot_request(s, *vm, kMiB, 1, with(2.5)).agent_timeout, 2.5);
  EXPECT_EQ(boot_request(s, *vm, kMiB, 1, with(3)).agent_timeout, 3.0);
  EXPECT_EQ(boot_request(s, *vm, kMiB, 1, {}).agent_timeout, std::nullopt);

  // A creation option is checked like a boot option, and a boot option overrides it.
  auto created = add_vm(*s.root_lab, "b", kMiB, 1, with(0));
  EXPECT_TRUE(has(error_of([&] { boot_request(s, *created, kMiB, 1, {}); }), "agent_timeout"));
  EXPECT_EQ(boot_request(s, *created, kMiB, 1, with(9)).agent_timeout, 9.0);

  // Without the option the profile's agent_boot_timeout applies.
  auto slow = add_vm(*s.root_lab, "c", kMiB, 1, {}, "slow");
  EXPECT_EQ(boot_request(s, *slow, kMiB, 1, {}).agent_timeout, 42.0);
  EXPECT_EQ(boot_request(s, *slow, kMiB, 1, with(5)).agent_timeout, 5.0);
}

TEST_F(LabDomain, BootRequestNamesAnUndefinedProfile) {
  auto vm = add_vm(*s.root_lab, "a", kMiB, 1, {}, "ghost");
  std::string err = error_of([&] { boot_request(s, *vm, kMiB, 1, {}); });
  EXPECT_EQ(err, "vm `a` needs profile `ghost`, which provium.toml does not define");
}

}  // namespace
}  // namespace provium::lab
