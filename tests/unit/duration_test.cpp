// Durations (REFERENCE §4.8, seed-cli --timeout, seed-meta-tags meta.timeout).
#include "util/duration.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace provium::util {
namespace {

double secs(std::string_view text) {
  auto p = parse_duration_seconds(text);
  EXPECT_TRUE(p) << text << ": " << p.error;
  return p ? *p.value : -1;
}

TEST(ParseDurationSeconds, AcceptsEveryDocumentedUnit) {
  EXPECT_DOUBLE_EQ(secs("500ms"), 0.5);
  EXPECT_DOUBLE_EQ(secs("30s"), 30);
  EXPECT_DOUBLE_EQ(secs("5m"), 300);
  EXPECT_DOUBLE_EQ(secs("10m"), 600);
  EXPECT_DOUBLE_EQ(secs("2h"), 7200);
}

TEST(ParseDurationSeconds, AcceptsDecimalNumbers) {
  EXPECT_DOUBLE_EQ(secs("1.5s"), 1.5);
  EXPECT_DOUBLE_EQ(secs("0.5m"), 30);
  EXPECT_DOUBLE_EQ(secs("2.5ms"), 0.0025);
}

TEST(ParseDurationSeconds, BareNumericStringMeansSeconds) {
  EXPECT_DOUBLE_EQ(secs("30"), 30);
  EXPECT_DOUBLE_EQ(secs("300"), 300);
  EXPECT_DOUBLE_EQ(secs("0.5"), 0.5);
}

TEST(ParseDurationSeconds, ZeroIsValid) {
  EXPECT_DOUBLE_EQ(secs("0s"), 0);
  EXPECT_DOUBLE_EQ(secs("0"), 0);
  EXPECT_DOUBLE_EQ(secs("0ms"), 0);
}

TEST(ParseDurationSeconds, RejectsNegatives) {
  EXPECT_FALSE(parse_duration_seconds("-1s"));
  EXPECT_FALSE(parse_duration_seconds("-5"));
  EXPECT_FALSE(parse_duration_seconds("-0.5m"));
}

TEST(ParseDurationSeconds, RejectsUnknownSuffix) {
  EXPECT_FALSE(parse_duration_seconds("5d"));
  EXPECT_FALSE(parse_duration_seconds("5sec"));
  EXPECT_FALSE(parse_duration_seconds("5us"));
  EXPECT_FALSE(parse_duration_seconds("10x"));
}

TEST(ParseDurationSeconds, RejectsNanInfinityAndNonNumbers) {
  EXPECT_FALSE(parse_duration_seconds("nan"));
  EXPECT_FALSE(parse_duration_seconds("inf"));
  EXPECT_FALSE(parse_duration_seconds("infs"));
  EXPECT_FALSE(parse_duration_seconds(""));
  EXPECT_FALSE(parse_duration_seconds("s"));
  EXPECT_FALSE(parse_duration_seconds("ms"));
  EXPECT_FALSE(parse_duration_seconds("abc"));
  EXPECT_FALSE(parse_duration_seconds("1.2.3s"));
}

TEST(ParseDurationSeconds, ErrorNamesTheBadInput) {
  auto p = parse_duration_seconds("7fortnights");
  ASSERT_FALSE(p);
  EXPECT_NE(p.error.find("7fortnights"), std::string::npos) << p.error;
  EXPECT_EQ(p.error.find('\n'), std::string::npos) << p.error;
}

TEST(ParseDurationMs, ConvertsToWholeMilliseconds) {
  auto p = parse_duration_ms("500ms");
  ASSERT_TRUE(p) << p.error;
  EXPECT_EQ(p.value->count(), 500);
  EXPECT_EQ(parse_duration_ms("1.5s").value->count(), 1500);
  EXPECT_EQ(parse_duration_ms("300").value->count(), 300000);
  EXPECT_EQ(parse_duration_ms("10m").value->count(), 600000);
  EXPECT_EQ(parse_duration_ms("2h").value->count(), 7200000);
  EXPECT_EQ(parse_duration_ms("0").value->count(), 0);
}

TEST(ParseDurationMs, MillisecondPrecisionForSubSecondValues) {
  EXPECT_EQ(parse_duration_ms("0.001").value->count(), 1);
  EXPECT_EQ(parse_duration_ms("1ms").value->count(), 1);
  EXPECT_EQ(parse_duration_ms("0.25s").value->count(), 250);
}

TEST(ParseDurationMs, RejectsWhatSecondsRejects) {
  EXPECT_FALSE(parse_duration_ms("-1s"));
  EXPECT_FALSE(parse_duration_ms("5d"));
  EXPECT_FALSE(parse_duration_ms(""));
}

TEST(CheckDurationSeconds, AcceptsZeroAndPositiveNumbers) {
  EXPECT_TRUE(check_duration_seconds(0.0));
  EXPECT_TRUE(check_duration_seconds(0.5));
  auto p = check_duration_seconds(30);
  ASSERT_TRUE(p);
  EXPECT_DOUBLE_EQ(*p.value, 30);
}

TEST(CheckDurationSeconds, RejectsNegativeNanAndInfinity) {
  EXPECT_FALSE(check_duration_seconds(-0.001));
  EXPECT_FALSE(check_duration_seconds(-1));
  EXPECT_FALSE(check_duration_seconds(std::nan("")));
  EXPECT_FALSE(check_duration_seconds(std::numeric_limits<double>::infinity()));
  EXPECT_FALSE(check_duration_seconds(-std::numeric_limits<double>::infinity()));
  EXPECT_FALSE(check_duration_seconds(-1).error.empty());
}

TEST(FormatDuration, UsesTheFormsUsersWrite) {
  EXPECT_EQ(format_duration(0.5), "500ms");
  EXPECT_EQ(format_duration(30), "30s");
  EXPECT_EQ(format_duration(1.5), "1.5s");
}

TEST(FormatDuration, RoundTripsThroughTheParser) {
  for (double v : {0.0, 0.001, 0.25, 1.0, 1.5, 10.0, 90.0, 600.0, 7200.0}) {
    auto text = format_duration(v);
    auto back = parse_duration_seconds(text);
    ASSERT_TRUE(back) << v << " -> " << text << ": " << back.error;
    EXPECT_NEAR(*back.value, v, 1e-9) << text;
  }
}

}  // namespace
}  // namespace provium::util
