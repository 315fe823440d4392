#include "core/pricing.h"

#include "gtest/gtest.h"

namespace mangaassist::core {
namespace {

PriceTable Shipped() {
  auto t = PriceTable::LoadFile(std::string(MANGAASSIST_SOURCE_DIR) + "/config/pricing.yaml");
  EXPECT_TRUE(t.ok()) << t.status();
  return *t;
}

TEST(PricingTest, ShippedTableHasTheSeedModels) {
  PriceTable t = Shipped();
  const ModelPrice* sonnet = t.FindModel("claude-3-5-sonnet");
  ASSERT_NE(sonnet, nullptr);
  EXPECT_EQ(sonnet->input.nanos(), 3'000'000'000);
  EXPECT_EQ(sonnet->output.nanos(), 15'000'000'000);
  EXPECT_EQ(sonnet->cache_write.nanos(), sonnet->input.nanos() * 125 / 100);
  EXPECT_EQ(sonnet->cache_read.nanos(), sonnet->input.nanos() / 10);
  EXPECT_EQ(t.FindModel("anthropic.claude-3-5-haiku-20241022-v1:0")->name, "claude-3-5-haiku");
  EXPECT_NE(t.FindModel("claude-3-haiku"), nullptr);
  EXPECT_EQ(t.FindModel("gpt-unknown"), nullptr);
  EXPECT_FALSE(sonnet->source.empty());
  EXPECT_TRUE(t.Service("titan_embeddings_v2", "per_million_input_tokens").ok());
  EXPECT_TRUE(t.Service("fargate", "arm_per_vcpu_hour").ok());
  EXPECT_FALSE(t.Service("fargate", "quantum_per_hour").ok());
  EXPECT_EQ(t.UpliftPercent("ap-northeast-1", "dynamodb"), 12);
  EXPECT_EQ(t.UpliftPercent("eu-west-1", "dynamodb"), 0);
}

TEST(PricingTest, CostOfUsageIsExactIntegerNanos) {
  PriceTable t = Shipped();
  // 1,200 input + 300 output + 2,000 cache read + 500 cache write on Sonnet 3.5.
  LlmCost c = CostOf(*t.FindModel("claude-3-5-sonnet"), TokenUsage{1200, 300, 2000, 500});
  EXPECT_EQ(c.input.nanos(), 3'600'000);         // 1200 * $3/M
  EXPECT_EQ(c.output.nanos(), 4'500'000);        // 300 * $15/M
  EXPECT_EQ(c.cache_read.nanos(), 600'000);      // 2000 * $0.30/M
  EXPECT_EQ(c.cache_write.nanos(), 1'875'000);   // 500 * $3.75/M
  EXPECT_EQ(c.Total().nanos(), 10'575'000);
}

TEST(PricingTest, UpliftRoundsHalfUp) {
  EXPECT_EQ(WithUplift(Money::FromNanos(1000), 5).nanos(), 1050);
  EXPECT_EQ(WithUplift(Money::FromNanos(10), 5).nanos(), 11);  // 10.5 → 11
  EXPECT_EQ(WithUplift(Money::FromNanos(10), 0).nanos(), 10);
}

TEST(PricingTest, BadTablesAreRefusedWithTheirLine) {
  auto a = PriceTable::LoadString("models:\n  m:\n    input: \"1.0\"\n", "p.yaml");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("missing 'output'"), std::string::npos) << a.status();
  auto b = PriceTable::LoadString(
      "models:\n  m:\n    input: abc\n    output: 1\n    cache_write: 1\n    cache_read: 1\n", "p.yaml");
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("p.yaml:3"), std::string::npos) << b.status();
  EXPECT_FALSE(PriceTable::LoadString("models: {}\n", "p.yaml").ok());
  EXPECT_FALSE(PriceTable::LoadString(
      "models:\n  m:\n    input: \"-1\"\n    output: 1\n    cache_write: 1\n    cache_read: 1\n", "p.yaml").ok());
}

}  // namespace
}  // namespace mangaassist::core
