#include "lab/lab.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace provium::lab {

bool is_reserved_name(const std::string& n) {
  static const char* kReserved[] = {"pack",    "unpack",     "reset_between_tests",
                                    "timeout", "vm_fixture", "lab_fixture"};
  return std::any_of(std::begin(kReserved), std::end(kReserved),
                     [&](const char* r) { return n == r; });
}

std::shared_ptr<Vm> Lab::find_vm(const std::string& name) const {
  for (auto& v : vms_)
    if (v->name() == name) return v;
  return parent_ ? parent_->find_vm(name) : nullptr;
}

std::shared_ptr<Lab> Lab::find_sub_lab(const std::string& name) const {
  for (auto& l : sub_labs_)
    if (l->name() == name) return l;
  return parent_ ? parent_->find_sub_lab(name) : nullptr;
}

void Lab::check_name_free(const std::string& name, const char* what) const {
  if (name.empty()) throw std::runtime_error(fmt::format("{}: name must not be empty", what));
  if (is_reserved_name(name))
    throw std::runtime_error(fmt::format("{}: `{}` is a reserved name", what, name));
  for (auto& v : vms_)
    if (v->name() == name)
      throw std::runtime_error(
          fmt::format("{}: `{}` already exists in lab `{}`", what, name, name_));
  for (auto& l : sub_labs_)
    if (l->name() == name)
      throw std::runtime_error(
          fmt::format("{}: `{}` already exists in lab `{}`", what, name, name_));
  if (parent_ && (parent_->find_vm(name) || parent_->find_sub_lab(name)))
    throw std::runtime_error(
        fmt::format("{}: `{}` already declared at a parent scope (lab `{}`); look it up with "
                    "provium:vm(\"{}\") instead of declaring it again",
                    what, name, parent_->name(), name));
}

void Lab::add_vm(std::shared_ptr<Vm> vm) {
  check_name_free(vm->name(), "lab:vm");
  vms_.push_back(std::move(vm));
}

std::shared_ptr<Lab> Lab::add_sub_lab(std::optional<std::string> name) {
  std::string n = name ? *name : fmt::format("__lab_{}", anon_counter_++);
  check_name_free(n, "lab:lab");
  auto lab = std::make_shared<Lab>(n);
  sub_labs_.push_back(lab);
  return lab;
}

void Lab::add_existing_lab(std::shared_ptr<Lab> lab) {
  check_name_free(lab->name(), "lab:include");
  sub_labs_.push_back(std::move(lab));
}

bool Lab::remove(const std::string& name) {
  auto vit = std::find_if(vms_.begin(), vms_.end(), [&](auto& v) { return v->name() == name; });
  if (vit != vms_.end()) {
    vms_.erase(vit);
    return true;
  }
  auto lit =
      std::find_if(sub_labs_.begin(), sub_labs_.end(), [&](auto& l) { return l->name() == name; });
  if (lit != sub_labs_.end()) {
    sub_labs_.erase(lit);
    return true;
  }
  return false;
}

std::vector<std::string> Lab::vm_names() const {
  std::vector<std::string> out;
  for (auto& v : vms_) out.push_back(v->name());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> Lab::sub_lab_names() const {
  std::vector<std::string> out;
  for (auto& l : sub_labs_) out.push_back(l->name());
  std::sort(out.begin(), out.end());
  return out;
}

std::shared_ptr<net::Bridge> Lab::find_bridge(const std::string& name) const {
  if (auto it = bridges_.find(name); it != bridges_.end()) return it->second;
  return parent_ ? parent_->find_bridge(name) : nullptr;
}

}  // namespace provium::lab
