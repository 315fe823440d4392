#include "control/breaker.h"

#include <vector>

#include "gtest/gtest.h"

namespace mangaassist::control {
namespace {

using core::Money;
constexpr int64_t kMinute = 60'000'000'000;

Money Usd(int64_t usd) { return Money::FromNanos(usd * Money::kNanosPerUsd); }

class BreakerTest : public ::testing::Test {
 protected:
  BreakerTest() : breaker_(config_, Usd(1000), [this](const BreakerTransition& t) {
                    transitions_.push_back(t);
                  }) {}
  core::CostBreakerConfig config_;  // 70/85/97 %, velocity 300/600 % over 10 min, 5 %, 5 min
  std::vector<BreakerTransition> transitions_;
  CostBreaker breaker_;
};

TEST_F(BreakerTest, LevelsFollowSpendAgainstTheCap) {
  EXPECT_EQ(breaker_.Observe(0, Usd(100), Money()), 0);
  EXPECT_EQ(breaker_.Observe(1, Usd(700), Money()), 1);
  EXPECT_EQ(breaker_.Observe(2, Usd(850), Money()), 2);
  EXPECT_EQ(breaker_.Observe(3, Usd(970), Money()), 3);
  ASSERT_EQ(transitions_.size(), 3u);
  EXPECT_EQ(transitions_[2].from, 2);
  EXPECT_EQ(transitions_[2].to, 3);
  EXPECT_NE(transitions_[2].reason.find("spend 97%"), std::string::npos) << transitions_[2].reason;
}

TEST_F(BreakerTest, RunawayVelocityRaisesTheLevelLongBeforeTheCap) {
  // Even pace: $1000/day = $6.94 per 10 min. $21 in 10 minutes is 302 % of pace.
  EXPECT_EQ(breaker_.Observe(0, Usd(21), Usd(21)), 1);
  EXPECT_EQ(breaker_.Observe(1, Usd(42), Usd(42)), 2);
}

TEST_F(BreakerTest, SpendOscillatingAroundAThresholdDoesNotFlap) {
  for (int m = 0; m < 60; ++m) {
    breaker_.Observe(m * kMinute, Usd(m % 2 == 0 ? 860 : 840), Money());
  }
  ASSERT_EQ(transitions_.size(), 1u);  // 0 → 2 once; 84 % never drops it (needs < 80 %)
  EXPECT_EQ(breaker_.level(), 2);
}

TEST_F(BreakerTest, StepsDownOnlyAfterDwellAndBelowTheLoweredThreshold) {
  ASSERT_EQ(breaker_.Observe(0, Usd(860), Money()), 2);
  EXPECT_EQ(breaker_.Observe(kMinute, Usd(100), Money()), 2);      // within 5 min dwell
  EXPECT_EQ(breaker_.Observe(6 * kMinute, Usd(810), Money()), 2);  // 81 % > 85-5
  EXPECT_EQ(breaker_.Observe(6 * kMinute, Usd(790), Money()), 1);  // 79 % < 80 %: down to 1
  EXPECT_EQ(breaker_.Observe(7 * kMinute, Usd(100), Money()), 1);  // dwell again
  EXPECT_EQ(breaker_.Observe(12 * kMinute, Usd(100), Money()), 0);
  // A rise is immediate whatever the dwell.
  EXPECT_EQ(breaker_.Observe(12 * kMinute + 1, Usd(990), Money()), 3);
}

TEST(BreakerNoCapTest, NoCapMeansLevelZero) {
  CostBreaker b(core::CostBreakerConfig{}, Money(), nullptr);
  EXPECT_EQ(b.Observe(0, Usd(1'000'000), Usd(1'000'000)), 0);
}

}  // namespace
}  // namespace mangaassist::control
