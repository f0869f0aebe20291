// Shared by the scheduler unit tests: sizes, a substring check and a guard that ends a parked
// request after a while, so a broken grant or deadlock rule fails a test instead of hanging it.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "scheduler/pool.hpp"

namespace provium::scheduler::test_util {

inline constexpr std::uint64_t kMiB = 1ull << 20;
inline const Amount kVm = vm_charge(512 * kMiB, 1);  // 612 MiB + 1 vCPU

inline bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

inline std::function<std::optional<std::string>()> give_up_after(std::chrono::seconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  return [until]() -> std::optional<std::string> {
    if (std::chrono::steady_clock::now() >= until) return "test guard: still parked";
    return std::nullopt;
  };
}

}  // namespace provium::scheduler::test_util
