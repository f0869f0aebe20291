// Lua method declarations (src/lua/api.hpp).
#include <gtest/gtest.h>

#include <stdexcept>

#include "lua/api.hpp"

namespace {

using provium::lua::parse_params;

TEST(ApiDecl, ParamsParse) {
  auto p = parse_params("cmd: string|string[], opts?: {timeout?: Duration, env?: table}");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].name, "cmd");
  EXPECT_EQ(p[0].type, "string|string[]");
  EXPECT_FALSE(p[0].optional);
  EXPECT_EQ(p[1].name, "opts");
  EXPECT_EQ(p[1].type, "{timeout?: Duration, env?: table}");
  EXPECT_TRUE(p[1].optional);
  p = parse_params("fn: fun(b: Batch, n: integer), ...");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].type, "fun(b: Batch, n: integer)");
  EXPECT_EQ(p[1].name, "...");
  EXPECT_EQ(p[1].type, "");
  EXPECT_TRUE(parse_params("").empty());
  EXPECT_THROW(parse_params("path"), std::invalid_argument);
  EXPECT_THROW(parse_params("a: {x: integer"), std::invalid_argument);
  EXPECT_THROW(parse_params("..., a: integer"), std::invalid_argument);
}

}  // namespace
