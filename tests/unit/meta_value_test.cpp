// MetaValue helpers (REFERENCE §11.4, §4.3): truthiness of slow/skip, string containment for
// --tag-meta, deterministic map order and JSON rendering.
#include "events/meta_value.hpp"

#include <gtest/gtest.h>

#include "meta_builders.hpp"

namespace provium::events {
namespace {

using namespace provium::unit;

TEST(MetaValue, DefaultIsNull) {
  EXPECT_TRUE(MetaValue{}.is_null());
  EXPECT_FALSE(Bool(false).is_null());
}

TEST(MetaValue, TruthyFlagIsTrueOrNonZeroInteger) {
  EXPECT_TRUE(Bool(true).is_truthy_flag());
  EXPECT_TRUE(Int(1).is_truthy_flag());
  EXPECT_TRUE(Int(-1).is_truthy_flag());
  EXPECT_FALSE(Bool(false).is_truthy_flag());
  EXPECT_FALSE(Int(0).is_truthy_flag());
  EXPECT_FALSE(Null().is_truthy_flag());
  EXPECT_FALSE(Arr({}).is_truthy_flag());
  EXPECT_FALSE(Map({}).is_truthy_flag());
}

TEST(MetaValue, ContainsStringMatchesScalarOrArrayElement) {
  EXPECT_TRUE(Str("peinit").contains_string("peinit"));
  EXPECT_FALSE(Str("peinit").contains_string("pein"));
  EXPECT_TRUE(Arr({Str("a"), Str("b")}).contains_string("b"));
  EXPECT_FALSE(Arr({Str("a"), Str("b")}).contains_string("c"));
  EXPECT_FALSE(Arr({}).contains_string(""));
}

TEST(MetaValue, ContainsStringNeverMatchesNonStrings) {
  EXPECT_FALSE(Bool(true).contains_string("true"));
  EXPECT_FALSE(Int(5).contains_string("5"));
  EXPECT_FALSE(Float(1.5).contains_string("1.5"));
  EXPECT_FALSE(Null().contains_string(""));
  EXPECT_FALSE(Map({{"a", Str("a")}}).contains_string("a"));
  EXPECT_FALSE(Arr({Int(5), Bool(true)}).contains_string("5"));
}

TEST(MetaValue, EqualityDistinguishesVariants) {
  EXPECT_EQ(Str("x"), Str("x"));
  EXPECT_NE(Str("x"), Bytes("x"));
  EXPECT_NE(Int(1), Float(1.0));
  EXPECT_NE(Int(1), Bool(true));
  EXPECT_EQ(Arr({Int(1), Str("a")}), Arr({Int(1), Str("a")}));
}

TEST(MetaMap, KeysAreSorted) {
  MetaMap m{{"zeta", Int(1)}, {"alpha", Int(2)}, {"mid", Int(3)}};
  std::vector<std::string> keys;
  for (auto& [k, v] : m) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"alpha", "mid", "zeta"}));
}

TEST(MetaValueJson, RendersEveryVariant) {
  EXPECT_TRUE(to_json(Null()).is_null());
  EXPECT_EQ(to_json(Bool(true)), nlohmann::json(true));
  EXPECT_EQ(to_json(Int(-7)), nlohmann::json(-7));
  EXPECT_TRUE(to_json(Int(3)).is_number_integer());
  EXPECT_TRUE(to_json(Float(1.5)).is_number_float());
  EXPECT_EQ(to_json(Str("hi")), nlohmann::json("hi"));
  EXPECT_EQ(to_json(Arr({Int(1), Str("a")})), nlohmann::json::parse(R"([1,"a"])"));
  EXPECT_EQ(to_json(Map({{"k", Arr({})}})), nlohmann::json::parse(R"({"k":[]})"));
}

TEST(MetaValueJson, BytesAreNotSilentlyDropped) {
  auto j = to_json(Bytes(std::string("\xff\x00\x10", 3)));
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.value("$bytes", ""), "ff0010");
}

TEST(MetaValueJson, MapOrderIsDeterministic) {
  MetaMap m{{"b", Int(1)}, {"a", Int(2)}};
  EXPECT_EQ(to_json(m).dump(), R"({"a":2,"b":1})");
}

}  // namespace
}  // namespace provium::events
