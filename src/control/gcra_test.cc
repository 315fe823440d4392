#include "control/gcra.h"

#include "gtest/gtest.h"

namespace mangaassist::control {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

TEST(GcraTest, EmissionIntervalRoundsUpSoTheRateIsNeverExceeded) {
  EXPECT_EQ((GcraLimit{10, 60 * kSecond, 5}.EmissionNs()), 6 * kSecond);
  EXPECT_EQ((GcraLimit{3, 10, 1}.EmissionNs()), 4);  // 10/3 → 4, not 3
  EXPECT_EQ((GcraLimit{100, 1, 1}.EmissionNs()), 1);
}

TEST(GcraTest, BurstPassesAtOnceThenOneUnitPerEmissionInterval) {
  const GcraLimit l{10, 60 * kSecond, 5};  // 10/min, 5 at once
  const int64_t t0 = 1'000 * kSecond;
  int64_t tat = 0;
  for (int i = 0; i < 5; ++i) {
    GcraResult r = GcraDecide(l, tat, t0, 1);
    ASSERT_TRUE(r.allowed) << i;
    EXPECT_EQ(r.remaining, 4 - i);
    tat = r.tat_ns;
  }
  GcraResult denied = GcraDecide(l, tat, t0, 1);
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.tat_ns, tat);  // nothing consumed
  EXPECT_EQ(denied.retry_after_ns, 6 * kSecond);
  EXPECT_EQ(denied.reset_after_ns, 30 * kSecond);
  // One interval later exactly one more passes.
  EXPECT_FALSE(GcraDecide(l, tat, t0 + 6 * kSecond - 1, 1).allowed);
  GcraResult later = GcraDecide(l, tat, t0 + 6 * kSecond, 1);
  EXPECT_TRUE(later.allowed);
  EXPECT_EQ(later.remaining, 0);
  EXPECT_FALSE(GcraDecide(l, later.tat_ns, t0 + 6 * kSecond, 1).allowed);
}

TEST(GcraTest, IdleTimeRefillsOnlyUpToTheBurst) {
  const GcraLimit l{60, 60 * kSecond, 3};
  GcraResult r = GcraDecide(l, 0, 0, 3);
  ASSERT_TRUE(r.allowed);
  // An hour idle: still only 3 at once.
  const int64_t later = 3600 * kSecond;
  GcraResult a = GcraDecide(l, r.tat_ns, later, 3);
  ASSERT_TRUE(a.allowed);
  EXPECT_FALSE(GcraDecide(l, a.tat_ns, later, 1).allowed);
}

TEST(GcraTest, CostAboveTheBurstCanNeverPass) {
  const GcraLimit l{1000, 60 * kSecond, 1000};
  GcraResult r = GcraDecide(l, 0, 0, 1001);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.retry_after_ns, -1);
}

TEST(GcraTest, WeightedCostsAndRefunds) {
  const GcraLimit l{1000, 60 * kSecond, 1000};  // tokens
  GcraResult a = GcraDecide(l, 0, 0, 800);
  ASSERT_TRUE(a.allowed);
  EXPECT_EQ(a.remaining, 200);
  EXPECT_FALSE(GcraDecide(l, a.tat_ns, 0, 800).allowed);
  // The call used 100 of the 800 estimated: 700 come back.
  const int64_t refunded = GcraAdjust(l, a.tat_ns, 0, -700);
  GcraResult b = GcraDecide(l, refunded, 0, 800);
  EXPECT_TRUE(b.allowed);
  EXPECT_EQ(b.remaining, 100);
  // A refund never creates credit beyond a full bucket.
  EXPECT_EQ(GcraAdjust(l, 0, 5 * kSecond, -10'000), 5 * kSecond);
}

}  // namespace
}  // namespace mangaassist::control
