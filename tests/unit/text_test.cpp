// UTF-8 validation (REFERENCE §11.4: Str vs Bytes) and the small text helpers.
#include "util/text.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace provium::util {
namespace {

using Lines = std::vector<std::string>;

const std::string kReplacement = "\xEF\xBF\xBD";

TEST(IsValidUtf8, AcceptsAsciiAndMultibyte) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("hello, world"));
  EXPECT_TRUE(is_valid_utf8("caf\xC3\xA9"));           // U+00E9
  EXPECT_TRUE(is_valid_utf8("\xE2\x82\xAC"));          // U+20AC
  EXPECT_TRUE(is_valid_utf8("\xF0\x9F\x98\x80"));      // U+1F600
  EXPECT_TRUE(is_valid_utf8("\xF4\x8F\xBF\xBF"));      // U+10FFFF
  EXPECT_TRUE(is_valid_utf8(std::string("a\0b", 3)));  // NUL is valid UTF-8
}

TEST(IsValidUtf8, RejectsStrayAndTruncatedBytes) {
  EXPECT_FALSE(is_valid_utf8("\xFF"));
  EXPECT_FALSE(is_valid_utf8("\xFE\xFF"));
  EXPECT_FALSE(is_valid_utf8("\x80"));          // lone continuation
  EXPECT_FALSE(is_valid_utf8("ab\xC3"));        // truncated 2-byte
  EXPECT_FALSE(is_valid_utf8("\xE2\x82"));      // truncated 3-byte
  EXPECT_FALSE(is_valid_utf8("\xF0\x9F\x98"));  // truncated 4-byte
  EXPECT_FALSE(is_valid_utf8("\xC3\x28"));      // bad continuation
}

TEST(IsValidUtf8, RejectsOverlongsSurrogatesAndOutOfRange) {
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xC1\xBF"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xE0\x80\xAF"));      // overlong 3-byte
  EXPECT_FALSE(is_valid_utf8("\xF0\x80\x80\xAF"));  // overlong 4-byte
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // U+D800 surrogate
  EXPECT_FALSE(is_valid_utf8("\xED\xBF\xBF"));      // U+DFFF surrogate
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(is_valid_utf8("\xF8\x88\x80\x80\x80"));
}

TEST(SanitizeUtf8, LeavesValidTextAlone) {
  EXPECT_EQ(sanitize_utf8("caf\xC3\xA9 \xF0\x9F\x98\x80"), "caf\xC3\xA9 \xF0\x9F\x98\x80");
  EXPECT_EQ(sanitize_utf8(""), "");
}

TEST(SanitizeUtf8, ReplacesInvalidBytesWithReplacementCharacter) {
  std::string out = sanitize_utf8(std::string("a\xFF") + "b");
  EXPECT_EQ(out, "a" + kReplacement + "b");
  EXPECT_TRUE(is_valid_utf8(sanitize_utf8("\xC0\xAF\xED\xA0\x80\xF4\x90\x80\x80 ok \xC3")));
  EXPECT_NE(sanitize_utf8("x\xC3").find(kReplacement), std::string::npos);
}

TEST(CollapseWhitespace, CollapsesRunsIncludingNewlinesToOneSpace) {
  EXPECT_EQ(collapse_whitespace("console=ttyS0\n  panic=1\t\tquiet\n"),
            "console=ttyS0 panic=1 quiet");
  EXPECT_EQ(collapse_whitespace("a\r\n\r\nb"), "a b");
}

TEST(CollapseWhitespace, TrimsBothEnds) {
  EXPECT_EQ(collapse_whitespace("  \n x y \n\n"), "x y");
  EXPECT_EQ(collapse_whitespace(" \t\n "), "");
  EXPECT_EQ(collapse_whitespace(""), "");
  EXPECT_EQ(collapse_whitespace("single"), "single");
}

TEST(SplitLines, SplitsOnNewlines) { EXPECT_EQ(split_lines("a\nb\nc"), (Lines{"a", "b", "c"})); }

TEST(SplitLines, TrailingNewlineDoesNotAddAnEmptyLine) {
  EXPECT_EQ(split_lines("a\nb\n"), (Lines{"a", "b"}));
  EXPECT_EQ(split_lines("one\n"), (Lines{"one"}));
}

TEST(SplitLines, KeepsEmptyLinesInTheMiddle) {
  EXPECT_EQ(split_lines("a\n\nb"), (Lines{"a", "", "b"}));
  EXPECT_EQ(split_lines("\nx"), (Lines{"", "x"}));
}

TEST(SplitLines, EmptyInputHasNoLines) { EXPECT_TRUE(split_lines("").empty()); }

TEST(Trim, RemovesSurroundingWhitespaceOnly) {
  EXPECT_EQ(trim("  a b \n"), "a b");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim("\t\n"), "");
}

}  // namespace
}  // namespace provium::util
