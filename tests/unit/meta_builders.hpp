// Terse MetaValue constructors for the unit tests.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>

#include "events/meta_value.hpp"

namespace provium::unit {

using events::MetaArray;
using events::MetaBytes;
using events::MetaMap;
using events::MetaValue;

inline MetaValue Null() { return MetaValue{}; }
inline MetaValue Bool(bool b) { return MetaValue{MetaValue::Variant{std::in_place_type<bool>, b}}; }
inline MetaValue Int(std::int64_t i) {
  return MetaValue{MetaValue::Variant{std::in_place_type<std::int64_t>, i}};
}
inline MetaValue Float(double d) {
  return MetaValue{MetaValue::Variant{std::in_place_type<double>, d}};
}
inline MetaValue Str(std::string s) {
  return MetaValue{MetaValue::Variant{std::in_place_type<std::string>, std::move(s)}};
}
inline MetaValue Bytes(std::string s) {
  return MetaValue{MetaValue::Variant{std::in_place_type<MetaBytes>, MetaBytes{std::move(s)}}};
}
inline MetaValue Arr(std::initializer_list<MetaValue> items) {
  return MetaValue{MetaValue::Variant{std::in_place_type<MetaArray>, MetaArray(items)}};
}
inline MetaValue Map(std::initializer_list<std::pair<const std::string, MetaValue>> items) {
  return MetaValue{MetaValue::Variant{std::in_place_type<MetaMap>, MetaMap(items)}};
}

}  // namespace provium::unit
