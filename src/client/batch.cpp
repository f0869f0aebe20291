#include "client/batch.hpp"

#include <stdexcept>

namespace provium::client {

using proto::Value;

Value batch_payload(const std::vector<BatchItem>& items) {
  proto::Array arr;
  for (auto& it : items) {
    proto::Map m;
    m["kind"] = Value{it.kind};
    m["payload"] = it.payload;
    arr.emplace_back(std::move(m));
  }
  proto::Map p;
  p["items"] = Value{std::move(arr)};
  return Value{std::move(p)};
}

std::vector<BatchAnswer> batch_answers(const Value& reply, std::size_t items) {
  const Value* responses = proto::opt_field(reply, "responses");
  const proto::Array* arr = responses ? responses->as_array() : nullptr;
  if (!arr || arr->size() != items) throw std::runtime_error("malformed batch reply");
  std::vector<BatchAnswer> out;
  out.reserve(arr->size());
  for (auto& r : *arr) {
    const Value* kind = proto::opt_field(r, "kind");
    const Value* payload = proto::opt_field(r, "payload");
    BatchAnswer a;
    if (!payload || (kind && kind->as_string() && *kind->as_string() == "agent_error")) {
      a.agent_error = payload && proto::opt_field(*payload, "message")
                          ? proto::str_field(*payload, "message")
                          : std::string("error");
    } else {
      a.payload = payload;
    }
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace provium::client
