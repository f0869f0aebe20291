// The static scan that feeds fixture keys (REFERENCE §8.3): literals only, sorted, deduplicated.
#include <gtest/gtest.h>

#include "fixture/scan.hpp"

using provium::fixture::scan_source;

TEST(FixtureScan, FindsReferencesRequiresProfilesAndHostFiles) {
  auto s = scan_source(R"lua(
local util = require("helpers.util")
local other = require 'helpers.other'
local base = vm_fixture("fixtures/base")
local vm = provium:vm("a", "linux", {memory = "256M"})
local again = provium:vm("a")           -- a lookup: boots nothing
vm:push_file("data/b.txt", "/tmp/b")
vm:push_file("data/a.txt", "/tmp/a", {mode = 420})
vm:push_file("skip.txt", "/tmp/s", {auto_dep = false})
provium:depends_on_file("conf/x.conf")
)lua");
  EXPECT_EQ(s.fixture_refs, (std::vector<std::string>{"fixtures/base"}));
  EXPECT_EQ(s.requires_, (std::vector<std::string>{"helpers.other", "helpers.util"}));
  EXPECT_EQ(s.profiles, (std::vector<std::string>{"linux"}));
  EXPECT_FALSE(s.non_literal_profile);
  EXPECT_EQ(s.host_files, (std::vector<std::string>{"conf/x.conf", "data/a.txt", "data/b.txt"}));
}

TEST(FixtureScan, NonLiteralProfileIsNoticed) {
  auto s = scan_source("local p = os.getenv('P')\nlocal vm = provium:vm('a', p)\n");
  EXPECT_TRUE(s.non_literal_profile);
  EXPECT_TRUE(s.profiles.empty());
}

TEST(FixtureScan, OrderDoesNotMatter) {
  auto a = scan_source("require('x'); require('y'); vm_fixture('p'); vm_fixture('q')");
  auto b = scan_source("vm_fixture('q'); vm_fixture('p'); require('y'); require('x')");
  EXPECT_EQ(a.requires_, b.requires_);
  EXPECT_EQ(a.fixture_refs, b.fixture_refs);
}

TEST(FixtureScan, CommentsAreNotDependencies) {
  auto s = scan_source(
      "-- vm_fixture(\"in/comment\")\n--[[ require('gone') ]]\n--[==[ vm:push_file('x', 'y') ]==]\n"
      "local s = \"-- vm_fixture('kept')\" -- require('also.gone')\nrequire('real')\n");
  EXPECT_EQ(s.requires_, (std::vector<std::string>{"real"}));
  EXPECT_TRUE(s.host_files.empty());
  // Text inside a string literal is kept (only comments are blanked), so this one is seen.
  EXPECT_EQ(s.fixture_refs, (std::vector<std::string>{"kept"}));
}
