// Sizes (REFERENCE §4.8): integer bytes or "<integer>[K|M|G|T]", case-insensitive, powers of
// 1024, optional trailing B/iB.
#include <gtest/gtest.h>

#include <cstdint>

#include "util/duration.hpp"

namespace provium::util {
namespace {

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = kKiB * 1024;
constexpr std::uint64_t kGiB = kMiB * 1024;
constexpr std::uint64_t kTiB = kGiB * 1024;

std::uint64_t size(std::string_view text) {
  auto p = parse_size(text);
  EXPECT_TRUE(p) << text << ": " << p.error;
  return p ? *p.value : 0;
}

TEST(ParseSize, PlainIntegerIsBytes) {
  EXPECT_EQ(size("0"), 0u);
  EXPECT_EQ(size("1"), 1u);
  EXPECT_EQ(size("4096"), 4096u);
}

TEST(ParseSize, SpecExamples) {
  EXPECT_EQ(size("1024k"), 1024 * kKiB);
  EXPECT_EQ(size("512M"), 512 * kMiB);
  EXPECT_EQ(size("2G"), 2 * kGiB);
  EXPECT_EQ(size("20G"), 20 * kGiB);
  EXPECT_EQ(size("4G"), 4 * kGiB);
}

TEST(ParseSize, SuffixesArePowersOf1024) {
  EXPECT_EQ(size("1K"), kKiB);
  EXPECT_EQ(size("1M"), kMiB);
  EXPECT_EQ(size("1G"), kGiB);
  EXPECT_EQ(size("1T"), kTiB);
  EXPECT_EQ(size("3T"), 3 * kTiB);
}

TEST(ParseSize, SuffixIsCaseInsensitive) {
  EXPECT_EQ(size("1k"), size("1K"));
  EXPECT_EQ(size("7m"), 7 * kMiB);
  EXPECT_EQ(size("2g"), 2 * kGiB);
  EXPECT_EQ(size("1t"), kTiB);
}

TEST(ParseSize, AcceptsTrailingBAndIB) {
  EXPECT_EQ(size("4GiB"), 4 * kGiB);
  EXPECT_EQ(size("4GB"), 4 * kGiB);
  EXPECT_EQ(size("512MiB"), 512 * kMiB);
  EXPECT_EQ(size("512mib"), 512 * kMiB);
  EXPECT_EQ(size("16KB"), 16 * kKiB);
  EXPECT_EQ(size("1TiB"), kTiB);
  EXPECT_EQ(size("512B"), 512u);
}

TEST(ParseSize, RejectsNonIntegers) {
  EXPECT_FALSE(parse_size("1.5G"));
  EXPECT_FALSE(parse_size("0.5"));
  EXPECT_FALSE(parse_size("lots"));
  EXPECT_FALSE(parse_size(""));
  EXPECT_FALSE(parse_size("G"));
  EXPECT_FALSE(parse_size("GiB"));
}

TEST(ParseSize, RejectsNegativesAndUnknownSuffixes) {
  EXPECT_FALSE(parse_size("-1"));
  EXPECT_FALSE(parse_size("-4G"));
  EXPECT_FALSE(parse_size("4P"));
  EXPECT_FALSE(parse_size("4X"));
  EXPECT_FALSE(parse_size("4GG"));
}

TEST(ParseSize, RejectsOverflow) {
  EXPECT_FALSE(parse_size("99999999999999999999"));
  EXPECT_FALSE(parse_size("99999999T"));
}

TEST(ParseSize, ErrorNamesTheBadInput) {
  auto p = parse_size("12 parsecs");
  ASSERT_FALSE(p);
  EXPECT_NE(p.error.find("12 parsecs"), std::string::npos) << p.error;
}

TEST(FormatSize, RendersMiBWithTwoDecimals) {
  EXPECT_EQ(format_size(0), "0.00MiB");
  EXPECT_EQ(format_size(kMiB), "1.00MiB");
  EXPECT_EQ(format_size(static_cast<std::uint64_t>(23.45 * kMiB)), "23.45MiB");
  EXPECT_EQ(format_size(512 * kKiB), "0.50MiB");
}

}  // namespace
}  // namespace provium::util
