// The lab graph (REFERENCE §5.1): a named set of VMs and sub-labs. The file's root lab is
// "provium"; a test body runs in a test-scope lab "test:<name>" whose lookups fall through to
// the root; sub-labs never fall through. Bridges are looked up the same way.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lab/vm.hpp"
#include "net/bridge.hpp"

namespace provium::lab {

class Lab {
 public:
  explicit Lab(std::string name, std::shared_ptr<Lab> fallthrough = nullptr)
      : name_(std::move(name)), parent_(std::move(fallthrough)) {}

  const std::string& name() const { return name_; }
  bool is_test_scope() const { return parent_ != nullptr; }
  const std::shared_ptr<Lab>& parent() const { return parent_; }

  /// Lookup: own members, then (test scope only) the file root.
  std::shared_ptr<Vm> find_vm(const std::string& name) const;
  std::shared_ptr<Lab> find_sub_lab(const std::string& name) const;

  /// Adds a VM. Throws std::runtime_error when the name is taken here or, from a test
  /// scope, already declared at the parent scope.
  void add_vm(std::shared_ptr<Vm> vm);
  /// Creates a sub-lab (anonymous names `__lab_0`, `__lab_1`, ...).
  std::shared_ptr<Lab> add_sub_lab(std::optional<std::string> name);
  void add_existing_lab(std::shared_ptr<Lab> lab);
  /// Throws when `name` may not be added here (duplicate, reserved, shadowing a parent's).
  void check_name_free(const std::string& name, const char* what) const;
  /// Graph-only removal: VM first, then sub-lab. Returns false when nothing had that name.
  bool remove(const std::string& name);

  /// Bridges of this lab by name (REFERENCE §5.13).
  std::shared_ptr<net::Bridge> find_bridge(const std::string& name) const;
  void add_bridge(std::shared_ptr<net::Bridge> b) { bridges_[b->name()] = std::move(b); }
  void remove_bridge(const std::string& name) { bridges_.erase(name); }
  const std::map<std::string, std::shared_ptr<net::Bridge>>& bridges() const { return bridges_; }

  const std::vector<std::shared_ptr<Vm>>& vms() const { return vms_; }
  const std::vector<std::shared_ptr<Lab>>& sub_labs() const { return sub_labs_; }
  std::vector<std::string> vm_names() const;
  std::vector<std::string> sub_lab_names() const;

 private:
  std::string name_;
  std::shared_ptr<Lab> parent_;
  std::vector<std::shared_ptr<Vm>> vms_;
  std::vector<std::shared_ptr<Lab>> sub_labs_;
  std::map<std::string, std::shared_ptr<net::Bridge>> bridges_;
  int anon_counter_ = 0;
};

/// Keys that `lab.<key>` resolves before members; they can never name a member.
bool is_reserved_name(const std::string& name);

}  // namespace provium::lab
