#include "proto/protocol.hpp"

#include <cstring>

namespace provium::proto {

std::string encode_envelope(Envelope e) {
  Map m;
  m["id"] = Value{e.id};
  m["kind"] = Value{std::move(e.kind)};
  m["payload"] = std::move(e.payload);
  return encode_framed(Value{std::move(m)});
}

Envelope decode_envelope(std::string_view body) {
  Value v = decode(body);
  auto m = std::get_if<Map>(&v.v);
  if (!m) throw DecodeError("envelope is not a map");
  Envelope e;
  auto id = m->find("id");
  auto kind = m->find("kind");
  if (id == m->end() || !id->second.as_int()) throw DecodeError("envelope lacks an integer `id`");
  if (kind == m->end() || !kind->second.as_string()) throw DecodeError("envelope lacks a string `kind`");
  e.id = *id->second.as_int();
  e.kind = *kind->second.as_string();
  if (auto p = m->find("payload"); p != m->end()) e.payload = std::move(p->second);
  return e;
}

Value op_ok(Value value) {
  Map m;
  m["outcome"] = Value{"ok"};
  m["value"] = std::move(value);
  return Value{std::move(m)};
}

Value op_err(int err, std::string message) {
  Map inner;
  inner["errno"] = Value{static_cast<std::int64_t>(err)};
  inner["message"] = Value{std::move(message)};
  Map m;
  m["outcome"] = Value{"err"};
  m["value"] = Value{std::move(inner)};
  return Value{std::move(m)};
}

Value op_errno(int err) { return op_err(err, std::strerror(err)); }

Value agent_error(std::string_view kind, std::string message) {
  Map m;
  m["kind"] = Value{std::string(kind)};
  m["message"] = Value{std::move(message)};
  return Value{std::move(m)};
}

const Value* opt_field(const Value& payload, const char* name) {
  auto m = payload.as_map();
  if (!m) return nullptr;
  auto it = m->find(name);
  if (it == m->end() || it->second.is_null()) return nullptr;
  return &it->second;
}

const Value& field(const Value& payload, const char* name) {
  if (!payload.as_map()) throw DecodeError("payload is not a map");
  auto* v = opt_field(payload, name);
  if (!v) throw DecodeError(std::string("missing field `") + name + "`");
  return *v;
}

std::int64_t int_field(const Value& payload, const char* name) {
  auto& v = field(payload, name);
  if (auto i = v.as_int()) return *i;
  throw DecodeError(std::string("field `") + name + "` must be an integer");
}

std::string str_field(const Value& payload, const char* name) {
  auto& v = field(payload, name);
  if (auto s = v.as_string()) return *s;
  throw DecodeError(std::string("field `") + name + "` must be a string");
}

std::string bytes_field(const Value& payload, const char* name) {
  auto& v = field(payload, name);
  if (auto b = v.as_bytes()) return b->data;
  if (auto s = v.as_string()) return *s;
  throw DecodeError(std::string("field `") + name + "` must be bytes");
}

std::int64_t int_field_or(const Value& payload, const char* name, std::int64_t dflt) {
  auto* v = opt_field(payload, name);
  if (!v) return dflt;
  if (auto i = v->as_int()) return *i;
  throw DecodeError(std::string("field `") + name + "` must be an integer");
}

bool bool_field_or(const Value& payload, const char* name, bool dflt) {
  auto* v = opt_field(payload, name);
  if (!v) return dflt;
  if (auto b = v->as_bool()) return *b;
  throw DecodeError(std::string("field `") + name + "` must be a boolean");
}

}  // namespace provium::proto
