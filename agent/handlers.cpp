// The op table: every handler registered once, looked up by kind; batch_op runs items in order.
#include <cstring>

#include "agent/io.hpp"
#include "agent/ops.hpp"
#include "proto/protocol.hpp"

namespace provium::agent {
namespace {

using proto::Value;

bool is_stream_op(const std::string& kind) {
#define PROVIUM_STREAM_CHECK(name, streams) \
  if (kind == #name) return streams;
  PROVIUM_AGENT_OPS(PROVIUM_STREAM_CHECK)
#undef PROVIUM_STREAM_CHECK
  return false;
}

void op_batch(Request& r) {
  auto& items_v = proto::field(r.payload, "items");
  auto items = items_v.as_array();
  if (!items) throw proto::DecodeError("items must be an array of requests");
  proto::Array responses;
  for (auto& item : *items) {
    std::string kind;
    Value payload;
    if (auto m = item.as_map()) {
      if (auto k = m->find("kind"); k != m->end() && k->second.as_string())
        kind = *k->second.as_string();
      if (auto p = m->find("payload"); p != m->end()) payload = p->second;
    }
    auto error_reply = [](const std::string& kind_, const std::string& msg) {
      proto::Map m;
      m["kind"] = Value{"agent_error"};
      m["payload"] = proto::agent_error(kind_, msg);
      return Value{std::move(m)};
    };
    Handler h = kind.empty() ? nullptr : find_handler(kind);
    if (kind.empty() || kind == "hello" || kind == "batch_op" || is_stream_op(kind)) {
      responses.push_back(error_reply("bad_request", "`" + kind + "` cannot be batched"));
      continue;
    }
    if (!h) {
      responses.push_back(error_reply("unsupported", "unknown op `" + kind + "`"));
      continue;
    }
    Value captured;
    Request sub{r.id, kind, payload, r.conn, r.cancelled, [&](const std::string& k, Value p) {
                  if (k == "exec_output") return;  // the final result carries all bytes in a batch
                  proto::Map m;
                  m["kind"] = Value{k};
                  m["payload"] = std::move(p);
                  captured = Value{std::move(m)};
                }};
    try {
      h(sub);
    } catch (const proto::DecodeError& e) {
      captured = error_reply("bad_request", kind + ": " + e.what());
    } catch (const OsError& e) {
      proto::Map m;
      m["kind"] = Value{kind + "_result"};
      m["payload"] = proto::op_err(e.err, std::strerror(e.err));
      captured = Value{std::move(m)};
    }
    responses.push_back(std::move(captured));
  }
  proto::Map out;
  out["responses"] = Value{std::move(responses)};
  r.reply(Value{std::move(out)});
}

// Legacy: {items: [ExecArgs]} -> batch_exec_result {results: [OpResult<ExecOk>]}, in order.
void op_batch_exec(Request& r) {
  auto items = proto::field(r.payload, "items").as_array();
  if (!items) throw proto::DecodeError("items must be an array of exec requests");
  Handler exec = find_handler("exec");
  proto::Array results;
  for (auto& item : *items) {
    Value captured;
    Request sub{r.id, "exec", item, r.conn, r.cancelled, [&](const std::string& k, Value p) {
                  if (k == "exec_result") captured = std::move(p);
                }};
    try {
      exec(sub);
    } catch (const proto::DecodeError& e) {
      captured = proto::op_err(EINVAL, std::string("exec: ") + e.what());
    } catch (const OsError& e) {
      captured = proto::op_err(e.err, std::strerror(e.err));
    }
    results.push_back(std::move(captured));
  }
  proto::Map out;
  out["results"] = Value{std::move(results)};
  r.reply(Value{std::move(out)});
}

const Registry& registry() {
  static const Registry reg = [] {
    Registry r;
    register_fs_ops(r);
    register_proc_ops(r);
    register_misc_ops(r);
    register_stream_ops(r);
    register_memory_ops(r);
    r["batch_op"] = op_batch;
    r["batch_exec"] = op_batch_exec;
    register_worker_ops(r);  // last: it wraps the handle ops of the families above
    return r;
  }();
  return reg;
}

}  // namespace

Handler find_handler(const std::string& kind) {
  auto& reg = registry();
  auto it = reg.find(kind);
  return it == reg.end() ? nullptr : it->second;
}

}  // namespace provium::agent
