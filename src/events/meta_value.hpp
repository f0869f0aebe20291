// MetaValue: the typed form of a test's `meta` table (REFERENCE §11.4), shared by the filter,
// the reports and the event stream. It is proto::Value, the project's one dynamic value type.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "proto/value.hpp"

namespace provium::events {

using MetaValue = proto::Value;
using MetaArray = proto::Array;
using MetaMap = proto::Map;
using MetaBytes = proto::Bytes;

/// JSON rendering; bytes become `{"$bytes": "<hex>"}` so nothing is silently dropped.
nlohmann::json to_json(const MetaValue& v);
nlohmann::json to_json(const MetaMap& m);

/// Compact one-line rendering for diagnostics.
std::string to_display(const MetaValue& v);

}  // namespace provium::events

namespace provium::proto {
// Found by argument-dependent lookup on proto::Value, as when MetaValue was events' own type.
using events::to_display;
using events::to_json;
}  // namespace provium::proto
