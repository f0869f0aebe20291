// The rules a bridge's graph state produces (src/net/bridge.hpp): the nft script (partitions,
// isolation, loss per path, replaced in one transaction) and the tc batch (bandwidth per
// receiving port, directional classes by source MAC). Pure text: no namespace needed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "net/bridge.hpp"
#include "net/netns.hpp"

namespace provium::net {
namespace {

int a_, b_, c_;  // VM identities

std::unique_ptr<Bridge> three() {
  auto br = std::make_unique<Bridge>("lan", 0, std::nullopt);
  br->attach(&a_, "a", std::nullopt);
  br->attach(&b_, "b", std::nullopt);
  br->attach(&c_, "c", std::nullopt);
  return br;
}

// Each test's bridge (kept alive for the test's duration).
std::unique_ptr<Bridge> holder;
Bridge* three_holder() {
  holder = three();
  return holder.get();
}

bool has(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

TEST(NetBridge, AddressesAndMacsAreDeterministic) {
  Bridge br("lan", 3, std::nullopt);
  br.attach(&a_, "a", std::nullopt);
  br.attach(&b_, "b", std::string("10.213.3.77"));
  EXPECT_EQ(br.subnet(), "10.213.3.0/24");
  EXPECT_EQ(br.members()[0].address, "10.213.3.2");
  EXPECT_EQ(br.members()[1].address, "10.213.3.77");
  EXPECT_EQ(br.members()[0].mac, mac_for("lan", "a"));
  EXPECT_NE(mac_for("lan", "a"), mac_for("lan", "b"));
  EXPECT_NE(mac_for("lan", "a"), mac_for("wan", "a"));
  EXPECT_EQ(br.members()[0].mac.substr(0, 9), "52:54:00:");
}

TEST(NetBridge, BadAttachmentsAreRefusedWithoutChangingTheBridge) {
  Bridge br("lan", 0, std::string("10.0.0.0/24"));
  br.attach(&a_, "a", std::nullopt);
  EXPECT_THROW(br.attach(&a_, "a", std::nullopt), std::runtime_error);
  EXPECT_THROW(br.attach(&b_, "b", std::string("10.0.1.5")), std::runtime_error);  // other subnet
  EXPECT_THROW(br.attach(&b_, "b", std::string("10.0.0.1")), std::runtime_error);  // the gateway
  EXPECT_THROW(br.attach(&b_, "b", std::string("10.0.0.2")), std::runtime_error);  // a's
  EXPECT_EQ(br.members().size(), 1u);
  EXPECT_THROW(Bridge("x", 0, std::string("10.0.0.0/16")), std::runtime_error);
}

TEST(NetBridge, NftReplacesTheWholeTableInOneScript) {
  auto& br = *three_holder();
  auto s = br.nft_script();
  // Declare, delete, re-create: nft runs the file as one transaction.
  EXPECT_EQ(s.find("table bridge provium_pvbr0\ndelete table bridge provium_pvbr0\n"), 0u) << s;
  EXPECT_EQ(count(s, " drop"), 0u) << s;
}

TEST(NetBridge, PartitionsIsolationAndAll) {
  auto& br = *three_holder();
  br.blocked.insert({"a", "b"});
  auto s = br.nft_script();
  EXPECT_TRUE(has(s, "iifname \"pvt0p0\" oifname \"pvt0p1\" drop")) << s;
  EXPECT_FALSE(has(s, "iifname \"pvt0p1\" oifname \"pvt0p0\" drop")) << "directional only\n" << s;
  br.blocked.clear();
  br.isolated.insert("c");
  s = br.nft_script();
  EXPECT_EQ(count(s, " drop"), 4u) << "c to a, c to b, a to c, b to c\n" << s;
  br.isolated.clear();
  br.fully_partitioned = true;
  EXPECT_EQ(count(br.nft_script(), " drop"), 6u);
}

TEST(NetBridge, LossIsARandomDrawPerPath) {
  auto& br = *three_holder();
  br.directional[{"a", "b"}].drop_pct = 50;
  auto s = br.nft_script();
  EXPECT_TRUE(has(s, "iifname \"pvt0p0\" oifname \"pvt0p1\" numgen random mod 10000 < 5000 drop"))
      << s;
  EXPECT_EQ(count(s, "numgen"), 1u) << s;
  br.directional.clear();
  br.whole.drop_pct = 12.5;
  s = br.nft_script();
  EXPECT_EQ(count(s, "numgen random mod 10000 < 1250 drop"), 6u) << "every ordered pair\n" << s;
}

TEST(NetBridge, BandwidthShapesOnlyPortsThatExist) {
  auto& br = *three_holder();
  br.whole.bandwidth_bps = 1000000;
  EXPECT_EQ(br.tc_batch(), "") << "no member has booted: nothing to shape";
}

// A graph change whose rules the kernel refuses leaves the graph, and the rules in force, as
// they were (a real namespace: needs root, as the e2e network tests do).
TEST(NetBridgeChange, AChangeThatFailsToRealiseLeavesTheGraphAsItWas) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for a network namespace";
  auto ns = std::make_unique<provium::net::NetNamespace>();
  auto& br = *three_holder();
  br.realise(*ns);
  auto* a = br.member(&a_);
  auto* b = br.member(&b_);
  a->port = "pvt0a";
  b->port = "pvt0b";
  int fa = ns->open_tap(a->port), fb = ns->open_tap(b->port);
  br.change(*ns, [](Bridge& x) { x.blocked.insert({"a", "c"}); });
  std::string rules = ns->check({"nft", "list", "ruleset"}, "", "test");
  // 1000 % loss: nft refuses the out-of-range draw, so the change must roll back.
  try {
    br.change(*ns, [](Bridge& x) {
      x.isolated.insert("b");
      x.whole.drop_pct = 1000;
    });
    ADD_FAILURE() << "an impossible rule was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_TRUE(has(e.what(), "(the bridge's rules are unchanged)")) << e.what();
  }
  EXPECT_EQ(br.blocked, (std::set<std::pair<std::string, std::string>>{{"a", "c"}}));
  EXPECT_TRUE(br.isolated.empty());
  EXPECT_EQ(br.whole.drop_pct, 0);
  EXPECT_EQ(ns->check({"nft", "list", "ruleset"}, "", "test"), rules);
  ::close(fa);
  ::close(fb);
}

}  // namespace
}  // namespace provium::net
