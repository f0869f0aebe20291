#include "events/meta_value.hpp"

#include <fmt/format.h>

#include "util/text.hpp"

namespace provium::events {

nlohmann::json to_json(const MetaValue& mv) {
  return std::visit(
      [](auto&& x) -> nlohmann::json {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return nullptr;
        } else if constexpr (std::is_same_v<T, MetaBytes>) {
          std::string hex;
          for (unsigned char c : x.data) hex += fmt::format("{:02x}", c);
          return nlohmann::json{{"$bytes", hex}};
        } else if constexpr (std::is_same_v<T, MetaArray>) {
          auto arr = nlohmann::json::array();
          for (auto& e : x) arr.push_back(to_json(e));
          return arr;
        } else if constexpr (std::is_same_v<T, MetaMap>) {
          return to_json(x);
        } else {
          return x;
        }
      },
      mv.v);
}

nlohmann::json to_json(const MetaMap& m) {
  auto obj = nlohmann::json::object();
  for (auto& [k, v] : m) obj[k] = to_json(v);
  return obj;
}

std::string to_display(const MetaValue& v) {
  return to_json(v).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace provium::events
