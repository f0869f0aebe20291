// The batch_op envelope (REFERENCE §6): many ops in one round trip, each answered in order.
// Shared by vm:batch (src/lua/batch.cpp) and the host's own batches (the clock and RNG refresh
// after a restore), so both encode requests and read replies the same way.
#pragma once

#include <string>
#include <vector>

#include "proto/protocol.hpp"

namespace provium::client {

struct BatchItem {
  std::string kind;
  proto::Value payload;
};

/// The batch_op payload: {items: [{kind, payload}, ...]}.
proto::Value batch_payload(const std::vector<BatchItem>& items);

/// One item's answer: its payload, or the agent's message when the item failed as a whole
/// (`agent_error` or no payload). An op-level error inside an ok payload is the caller's to
/// read (client::op_error), since ops shape it differently.
struct BatchAnswer {
  const proto::Value* payload = nullptr;  // into the reply; null when agent_error
  std::string agent_error;                // the message, when the item was refused
};

/// The answers of a batch_op reply ({responses: [...]}), one per item in order. Throws
/// std::runtime_error("malformed batch reply") when the reply does not hold `items` answers.
/// The answers point into `reply`, which must outlive them (so no temporaries).
std::vector<BatchAnswer> batch_answers(const proto::Value& reply, std::size_t items);
std::vector<BatchAnswer> batch_answers(const proto::Value&& reply, std::size_t items) = delete;

}  // namespace provium::client
