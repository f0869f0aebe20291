// client::batch_payload / batch_answers: the batch_op envelope both vm:batch and the host's
// restore refresh use.
#include <gtest/gtest.h>

#include "client/batch.hpp"

namespace provium {
namespace {

using proto::Value;

Value answer(const char* kind, Value payload) {
  proto::Map m;
  m["kind"] = Value{kind};
  m["payload"] = std::move(payload);
  return Value{std::move(m)};
}

TEST(ClientBatch, PayloadListsEachItemsKindAndPayloadInOrder) {
  proto::Map a;
  a["ns"] = Value{42};
  Value p = client::batch_payload({{"set_time", Value{a}}, {"ping", Value{proto::Map{}}}});
  const proto::Array* items = proto::opt_field(p, "items")->as_array();
  ASSERT_NE(items, nullptr);
  ASSERT_EQ(items->size(), 2u);
  EXPECT_EQ(proto::str_field((*items)[0], "kind"), "set_time");
  EXPECT_EQ(*proto::opt_field(*proto::opt_field((*items)[0], "payload"), "ns")->as_int(), 42);
  EXPECT_EQ(proto::str_field((*items)[1], "kind"), "ping");
}

TEST(ClientBatch, AnswersSeparateRefusedItemsFromPayloads) {
  proto::Map err;
  err["message"] = Value{"no such op"};
  proto::Map ok;
  ok["value"] = Value{1};
  proto::Array rs;
  rs.push_back(answer("ok", Value{ok}));
  rs.push_back(answer("agent_error", Value{err}));
  proto::Map reply;
  reply["responses"] = Value{rs};
  Value r{reply};
  auto a = client::batch_answers(r, 2);
  ASSERT_EQ(a.size(), 2u);
  ASSERT_NE(a[0].payload, nullptr);
  EXPECT_EQ(*proto::opt_field(*a[0].payload, "value")->as_int(), 1);
  EXPECT_EQ(a[1].payload, nullptr);
  EXPECT_EQ(a[1].agent_error, "no such op");
}

TEST(ClientBatch, AReplyWithTheWrongNumberOfAnswersIsMalformed) {
  proto::Map reply;
  reply["responses"] = Value{proto::Array{}};
  Value none{reply}, empty{proto::Map{}};
  EXPECT_THROW(client::batch_answers(none, 1), std::runtime_error);
  EXPECT_THROW(client::batch_answers(empty, 0), std::runtime_error);
}

}  // namespace
}  // namespace provium
