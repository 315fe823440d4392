#include "core/money.h"

#include "gtest/gtest.h"

namespace mangaassist::core {
namespace {

TEST(MoneyTest, ParsesDecimalUsdExactly) {
  EXPECT_EQ(Money::ParseUsd("3").value().nanos(), 3'000'000'000);
  EXPECT_EQ(Money::ParseUsd("0.000003").value().nanos(), 3'000);
  EXPECT_EQ(Money::ParseUsd("-1.25").value().nanos(), -1'250'000'000);
  EXPECT_EQ(Money::ParseUsd(" 15.000000001 ").value().nanos(), 15'000'000'001);
  EXPECT_EQ(Money::ParseUsd("1_000").value().nanos(), 1'000'000'000'000);
}

TEST(MoneyTest, RejectsMalformedAmounts) {
  EXPECT_FALSE(Money::ParseUsd("").ok());
  EXPECT_FALSE(Money::ParseUsd("abc").ok());
  EXPECT_FALSE(Money::ParseUsd("1.2.3").ok());
  EXPECT_FALSE(Money::ParseUsd("0.0000000001").ok());  // finer than a nano-USD
  EXPECT_FALSE(Money::ParseUsd("99999999999").ok());   // overflows int64 nanos
  EXPECT_FALSE(Money::ParseUsd("-").ok());
}

TEST(MoneyTest, FormatsWithNineDecimals) {
  EXPECT_EQ(Money::FromNanos(0).ToUsdString(), "0.000000000");
  EXPECT_EQ(Money::FromNanos(1).ToUsdString(), "0.000000001");
  EXPECT_EQ(Money::FromNanos(-2'500'000'000).ToUsdString(), "-2.500000000");
  EXPECT_EQ(Money::FromNanos(INT64_MIN).ToUsdString(), "-9223372036.854775808");
}

TEST(MoneyTest, PerMillionRoundsHalfUp) {
  Money sonnet_input = Money::ParseUsd("3.00").value();  // per MTok
  EXPECT_EQ(Money::PerMillion(sonnet_input, 1'000'000).nanos(), 3'000'000'000);
  EXPECT_EQ(Money::PerMillion(sonnet_input, 1).nanos(), 3'000);
  Money haiku3 = Money::ParseUsd("0.25").value();
  EXPECT_EQ(Money::PerMillion(haiku3, 3).nanos(), 750);
  // 0.0000015 nano per token * 1 → rounds to 0; 0.5 rounds up.
  EXPECT_EQ(Money::PerMillion(Money::FromNanos(1), 499'999).nanos(), 0);
  EXPECT_EQ(Money::PerMillion(Money::FromNanos(1), 500'000).nanos(), 1);
}

TEST(MoneyTest, ArithmeticAndOrdering) {
  Money a = Money::FromNanos(5), b = Money::FromNanos(7);
  EXPECT_EQ((a + b).nanos(), 12);
  EXPECT_EQ((b - a).nanos(), 2);
  EXPECT_EQ((a * 3).nanos(), 15);
  EXPECT_LT(a, b);
  a += b;
  EXPECT_EQ(a.nanos(), 12);
}

}  // namespace
}  // namespace mangaassist::core
