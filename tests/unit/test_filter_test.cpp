// Per-test selection (seed-cli "Filter precedence" steps 5-10, seed-meta-tags, REFERENCE §2.4).
#include "runner/test_filter.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "meta_builders.hpp"

namespace provium::runner {
namespace {

using namespace provium::unit;

constexpr const char* kSlow = "filtered: slow tests skipped (pass --include-slow)";
constexpr const char* kMetaSkip = "skipped (meta.skip)";
constexpr const char* kNoTagMatch = "filtered: did not match --tag";

std::optional<std::string> Runs() { return std::nullopt; }

// ---- no filters ----

TEST(TestFilter, EmptyMetaAndNoFlagsRuns) {
  TestFilter f;
  EXPECT_EQ(f.skip_reason({}), Runs());
  EXPECT_EQ(f.skip_reason({{"spec", Str("PSD §1")}, {"area", Str("boot")}}), Runs());
}

// ---- meta.skip ----

TEST(TestFilter, SkipTrueUsesMetaSkipReason) {
  TestFilter f;
  EXPECT_EQ(f.skip_reason({{"skip", Bool(true)}}), kMetaSkip);
}

TEST(TestFilter, SkipNonZeroIntegerUsesMetaSkipReason) {
  TestFilter f;
  EXPECT_EQ(f.skip_reason({{"skip", Int(1)}}), kMetaSkip);
  EXPECT_EQ(f.skip_reason({{"skip", Int(-3)}}), kMetaSkip);
}

TEST(TestFilter, SkipStringCarriesTheReason) {
  TestFilter f;
  EXPECT_EQ(f.skip_reason({{"skip", Str("see issue #42")}}), "skipped: see issue #42");
}

TEST(TestFilter, SkipFalseNilOrZeroIsNotSkipped) {
  TestFilter f;
  EXPECT_EQ(f.skip_reason({{"skip", Bool(false)}}), Runs());
  EXPECT_EQ(f.skip_reason({{"skip", Null()}}), Runs());
  EXPECT_EQ(f.skip_reason({{"skip", Int(0)}}), Runs());
}

TEST(TestFilter, SkipWinsOverEverythingElse) {
  TestFilter f;
  f.no_tags = {"net"};
  f.tags = {"other"};
  f.tag_meta = {{"area", "x"}};
  MetaMap m{{"skip", Bool(true)}, {"slow", Bool(true)}, {"tags", Arr({Str("net")})}};
  EXPECT_EQ(f.skip_reason(m), kMetaSkip);
  m["skip"] = Str("later");
  EXPECT_EQ(f.skip_reason(m), "skipped: later");
}

TEST(TestFilter, SkipAppliesEvenWithIncludeSlow) {
  TestFilter f;
  f.include_slow = true;
  EXPECT_EQ(f.skip_reason({{"skip", Bool(true)}, {"slow", Bool(true)}}), kMetaSkip);
}

// ---- meta.slow ----

TEST(TestFilter, SlowTrueSkippedWithoutIncludeSlow) {
  TestFilter f;
  EXPECT_EQ(f.skip_reason({{"slow", Bool(true)}}), kSlow);
}

TEST(TestFilter, SlowNonZeroIntegerSkippedWithoutIncludeSlow) {
  TestFilter f;
  EXPECT_EQ(f.skip_reason({{"slow", Int(2)}}), kSlow);
}

TEST(TestFilter, SlowFalseOrZeroRuns) {
  TestFilter f;
  EXPECT_EQ(f.skip_reason({{"slow", Bool(false)}}), Runs());
  EXPECT_EQ(f.skip_reason({{"slow", Int(0)}}), Runs());
}

TEST(TestFilter, IncludeSlowRunsSlowTests) {
  TestFilter f;
  f.include_slow = true;
  EXPECT_EQ(f.skip_reason({{"slow", Bool(true)}}), Runs());
  EXPECT_EQ(f.skip_reason({{"slow", Int(1)}}), Runs());
}

TEST(TestFilter, SlowWinsOverNoTag) {
  TestFilter f;
  f.no_tags = {"net"};
  EXPECT_EQ(f.skip_reason({{"slow", Bool(true)}, {"tags", Arr({Str("net")})}}), kSlow);
}

// ---- --no-tag / --tag ----

TEST(TestFilter, NoTagSkipsMatchingTest) {
  TestFilter f;
  f.no_tags = {"dns"};
  EXPECT_EQ(f.skip_reason({{"tags", Arr({Str("net"), Str("dns")})}}),
            "filtered: tagged `dns` (--no-tag)");
}

TEST(TestFilter, NoTagIsOredAcrossFlags) {
  TestFilter f;
  f.no_tags = {"a", "b"};
  EXPECT_EQ(f.skip_reason({{"tags", Arr({Str("b")})}}), "filtered: tagged `b` (--no-tag)");
  EXPECT_EQ(f.skip_reason({{"tags", Arr({Str("c")})}}), Runs());
  EXPECT_EQ(f.skip_reason({}), Runs());
}

TEST(TestFilter, NoTagMatchesSingleStringTags) {
  TestFilter f;
  f.no_tags = {"smoke"};
  EXPECT_EQ(f.skip_reason({{"tags", Str("smoke")}}), "filtered: tagged `smoke` (--no-tag)");
}

TEST(TestFilter, TagRunsOnlyMatchingTests) {
  TestFilter f;
  f.tags = {"net"};
  EXPECT_EQ(f.skip_reason({{"tags", Arr({Str("net"), Str("dns")})}}), Runs());
  EXPECT_EQ(f.skip_reason({{"tags", Arr({Str("dns")})}}), kNoTagMatch);
}

TEST(TestFilter, TagWithoutAnyTagsDoesNotMatch) {
  TestFilter f;
  f.tags = {"net"};
  EXPECT_EQ(f.skip_reason({}), kNoTagMatch);
  EXPECT_EQ(f.skip_reason({{"tags", Arr({})}}), kNoTagMatch);
}

TEST(TestFilter, TagIsOredAcrossFlags) {
  TestFilter f;
  f.tags = {"a", "b"};
  EXPECT_EQ(f.skip_reason({{"tags", Arr({Str("a")})}}), Runs());
  EXPECT_EQ(f.skip_reason({{"tags", Arr({Str("b")})}}), Runs());
  EXPECT_EQ(f.skip_reason({{"tags", Arr({Str("c")})}}), kNoTagMatch);
}

TEST(TestFilter, SingleStringTagIsAcceptedByTag) {
  TestFilter f;
  f.tags = {"smoke"};
  EXPECT_EQ(f.skip_reason({{"tags", Str("smoke")}}), Runs());
  EXPECT_EQ(f.skip_reason({{"tags", Str("other")}}), kNoTagMatch);
}

TEST(TestFilter, TagsMatchByExactEquality) {
  TestFilter f;
  f.tags = {"net"};
  EXPECT_EQ(f.skip_reason({{"tags", Arr({Str("network")})}}), kNoTagMatch);
  EXPECT_EQ(f.skip_reason({{"tags", Arr({Str("ne")})}}), kNoTagMatch);
  EXPECT_EQ(f.skip_reason({{"tags", Arr({Str("NET")})}}), kNoTagMatch);
}

TEST(TestFilter, NoTagWinsOverTag) {
  TestFilter f;
  f.tags = {"a"};
  f.no_tags = {"b"};
  EXPECT_EQ(f.skip_reason({{"tags", Arr({Str("a"), Str("b")})}}),
            "filtered: tagged `b` (--no-tag)");
  EXPECT_EQ(f.skip_reason({{"tags", Arr({Str("a")})}}), Runs());
}

TEST(TestFilter, TagDecidesBeforeNoTagMeta) {
  TestFilter f;
  f.tags = {"net"};
  f.no_tag_meta = {{"flaky", "true"}};
  EXPECT_EQ(f.skip_reason({{"flaky", Str("true")}}), kNoTagMatch);
}

// ---- --no-tag-meta / --tag-meta ----

TEST(TestFilter, NoTagMetaSkipsStringValue) {
  TestFilter f;
  f.no_tag_meta = {{"flaky", "true"}};
  EXPECT_EQ(f.skip_reason({{"flaky", Str("true")}}), "filtered: meta flaky=true (--no-tag-meta)");
  EXPECT_EQ(f.skip_reason({{"flaky", Str("false")}}), Runs());
  EXPECT_EQ(f.skip_reason({}), Runs());
}

TEST(TestFilter, NoTagMetaSkipsArrayContainingValue) {
  TestFilter f;
  f.no_tag_meta = {{"subsystems", "peinit"}};
  EXPECT_EQ(f.skip_reason({{"subsystems", Arr({Str("loregd"), Str("peinit")})}}),
            "filtered: meta subsystems=peinit (--no-tag-meta)");
}

TEST(TestFilter, NoTagMetaNeverMatchesBooleansNumbersOrMaps) {
  TestFilter f;
  f.no_tag_meta = {{"flaky", "true"}, {"n", "5"}, {"m", "x"}};
  MetaMap m{{"flaky", Bool(true)}, {"n", Int(5)}, {"m", Map({{"x", Str("x")}})}};
  EXPECT_EQ(f.skip_reason(m), Runs());
}

TEST(TestFilter, TagMetaMatchesStringScalar) {
  TestFilter f;
  f.tag_meta = {{"area", "boot"}};
  EXPECT_EQ(f.skip_reason({{"area", Str("boot")}}), Runs());
  EXPECT_EQ(f.skip_reason({{"area", Str("net")}}), "filtered: did not match --tag-meta area");
  EXPECT_EQ(f.skip_reason({}), "filtered: did not match --tag-meta area");
}

TEST(TestFilter, TagMetaMatchesArrayElement) {
  TestFilter f;
  f.tag_meta = {{"subsystems", "peinit"}};
  EXPECT_EQ(f.skip_reason({{"subsystems", Arr({Str("peinit"), Str("loregd")})}}), Runs());
  EXPECT_EQ(f.skip_reason({{"subsystems", Arr({Str("loregd")})}}),
            "filtered: did not match --tag-meta subsystems");
}

TEST(TestFilter, TagMetaValuesMatchExactly) {
  TestFilter f;
  f.tag_meta = {{"area", "boot"}};
  EXPECT_EQ(f.skip_reason({{"area", Str("bootloader")}}),
            "filtered: did not match --tag-meta area");
}

TEST(TestFilter, TagMetaSameKeyIsOr) {
  TestFilter f;
  f.tag_meta = {{"subsystems", "peinit"}, {"subsystems", "loregd"}};
  EXPECT_EQ(f.skip_reason({{"subsystems", Arr({Str("loregd")})}}), Runs());
  EXPECT_EQ(f.skip_reason({{"subsystems", Arr({Str("peinit")})}}), Runs());
  EXPECT_EQ(f.skip_reason({{"subsystems", Arr({Str("net")})}}),
            "filtered: did not match --tag-meta subsystems");
}

TEST(TestFilter, TagMetaDifferentKeysAreAnded) {
  TestFilter f;
  f.tag_meta = {{"subsystems", "peinit"}, {"area", "boot"}};
  EXPECT_EQ(f.skip_reason({{"subsystems", Arr({Str("peinit")})}, {"area", Str("boot")}}), Runs());
  EXPECT_EQ(f.skip_reason({{"subsystems", Arr({Str("peinit")})}, {"area", Str("net")}}),
            "filtered: did not match --tag-meta area");
  EXPECT_EQ(f.skip_reason({{"subsystems", Arr({Str("x")})}, {"area", Str("boot")}}),
            "filtered: did not match --tag-meta subsystems");
}

TEST(TestFilter, TagMetaNeverMatchesBooleansNumbersOrMaps) {
  TestFilter f;
  f.tag_meta = {{"flaky", "true"}};
  EXPECT_EQ(f.skip_reason({{"flaky", Bool(true)}}), "filtered: did not match --tag-meta flaky");
  f.tag_meta = {{"n", "5"}};
  EXPECT_EQ(f.skip_reason({{"n", Int(5)}}), "filtered: did not match --tag-meta n");
  EXPECT_EQ(f.skip_reason({{"n", Float(5.0)}}), "filtered: did not match --tag-meta n");
  f.tag_meta = {{"m", "x"}};
  EXPECT_EQ(f.skip_reason({{"m", Map({{"x", Str("x")}})}}), "filtered: did not match --tag-meta m");
}

TEST(TestFilter, NoTagMetaWinsOverTagMeta) {
  TestFilter f;
  f.tag_meta = {{"subsystems", "peinit"}};
  f.no_tag_meta = {{"subsystems", "loregd"}};
  EXPECT_EQ(f.skip_reason({{"subsystems", Arr({Str("peinit"), Str("loregd")})}}),
            "filtered: meta subsystems=loregd (--no-tag-meta)");
  EXPECT_EQ(f.skip_reason({{"subsystems", Arr({Str("peinit")})}}), Runs());
}

TEST(TestFilter, TagMetaKeyCanBeAnyMetaField) {
  TestFilter f;
  f.tag_meta = {{"spec", "PSD §4.2.1"}};
  EXPECT_EQ(f.skip_reason({{"spec", Str("PSD §4.2.1")}}), Runs());
}

TEST(TestFilter, AllFiltersCombinedLetMatchingTestRun) {
  TestFilter f;
  f.include_slow = true;
  f.tags = {"net"};
  f.no_tags = {"flaky"};
  f.tag_meta = {{"area", "boot"}};
  f.no_tag_meta = {{"subsystems", "loregd"}};
  MetaMap m{{"slow", Bool(true)},
            {"tags", Arr({Str("net")})},
            {"area", Str("boot")},
            {"subsystems", Arr({Str("peinit")})}};
  EXPECT_EQ(f.skip_reason(m), Runs());
}

// ---- parse_key_value ----

TEST(ParseKeyValue, SplitsOnTheFirstEquals) {
  auto kv = parse_key_value("subsystems=peinit");
  ASSERT_TRUE(kv);
  EXPECT_EQ(kv->first, "subsystems");
  EXPECT_EQ(kv->second, "peinit");
  kv = parse_key_value("expr=a=b");
  ASSERT_TRUE(kv);
  EXPECT_EQ(kv->first, "expr");
  EXPECT_EQ(kv->second, "a=b");
}

TEST(ParseKeyValue, EmptyValueIsAllowed) {
  auto kv = parse_key_value("k=");
  ASSERT_TRUE(kv);
  EXPECT_EQ(kv->first, "k");
  EXPECT_EQ(kv->second, "");
}

TEST(ParseKeyValue, RejectsEmptyKeyAndMissingEquals) {
  EXPECT_FALSE(parse_key_value("=value"));
  EXPECT_FALSE(parse_key_value("novalue"));
  EXPECT_FALSE(parse_key_value(""));
  EXPECT_FALSE(parse_key_value("="));
}

}  // namespace
}  // namespace provium::runner
