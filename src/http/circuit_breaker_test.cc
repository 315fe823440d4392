#include "http/circuit_breaker.h"

#include <atomic>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/metrics.h"
#include "gtest/gtest.h"

namespace mangaassist::http {
namespace {

using State = CircuitBreaker::State;

CircuitBreakerConfig ConsecutiveOnly(int n) {
  CircuitBreakerConfig config;
  config.consecutive_failures = n;
  config.error_rate = 0;
  config.cooldown = absl::Seconds(10);
  config.cooldown_multiplier = 2.0;
  config.max_cooldown = absl::Seconds(30);
  config.half_open_probes = 1;
  return config;
}

int64_t Transitions(core::Registry& registry, const char* to) {
  return registry
      .GetCounter("mangaassist_circuit_breaker_transitions_total", "",
                  {{"breaker", "p"}, {"to", to}})
      .Value();
}

TEST(CircuitBreakerTest, OpensAfterConsecutiveFailures) {
  core::ManualClock clock;
  core::Registry registry;
  CircuitBreaker breaker("p", ConsecutiveOnly(3), &clock, &registry);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(breaker.Allow());
    breaker.RecordFailure();
  }
  ASSERT_TRUE(breaker.Allow());
  breaker.RecordSuccess();  // resets the streak
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(breaker.Allow());
    breaker.RecordFailure();
  }
  EXPECT_EQ(breaker.state(), State::kClosed);
  ASSERT_TRUE(breaker.Allow());
  breaker.RecordFailure();
  EXPECT_EQ(breaker.state(), State::kOpen);
  EXPECT_FALSE(breaker.Allow());
  EXPECT_FALSE(breaker.Allow());

  EXPECT_EQ(registry.GetGauge("mangaassist_circuit_breaker_state", "", {{"breaker", "p"}}).Value(),
            1);
  EXPECT_EQ(Transitions(registry, "open"), 1);
  EXPECT_EQ(
      registry.GetCounter("mangaassist_circuit_breaker_rejected_total", "", {{"breaker", "p"}})
          .Value(),
      2);
}

TEST(CircuitBreakerTest, OpensOnErrorRateOnlyWithMinimumCalls) {
  core::ManualClock clock;
  CircuitBreakerConfig config;
  config.consecutive_failures = 0;
  config.error_rate = 0.5;
  config.min_calls = 10;
  config.window = absl::Seconds(10);
  CircuitBreaker breaker("p", config, &clock);
  // 4 of 8 failed: 50%, but below the minimum number of calls.
  for (int i = 0; i < 4; ++i) {
    breaker.RecordSuccess();
    breaker.RecordFailure();
  }
  EXPECT_EQ(breaker.state(), State::kClosed);
  breaker.RecordSuccess();  // 9 calls, 4 failures
  EXPECT_EQ(breaker.state(), State::kClosed);
  breaker.RecordFailure();  // 10 calls, 5 failures: 50%
  EXPECT_EQ(breaker.state(), State::kOpen);
}

TEST(CircuitBreakerTest, ErrorRateForgetsCallsOutsideTheWindow) {
  core::ManualClock clock;
  CircuitBreakerConfig config;
  config.consecutive_failures = 0;
  config.error_rate = 0.5;
  config.min_calls = 10;
  config.window = absl::Seconds(10);
  config.window_buckets = 10;
  CircuitBreaker breaker("p", config, &clock);
  for (int i = 0; i < 4; ++i) breaker.RecordFailure();
  clock.Advance(absl::Seconds(11));  // those four have left the window
  for (int i = 0; i < 6; ++i) breaker.RecordSuccess();
  for (int i = 0; i < 4; ++i) breaker.RecordFailure();  // 10 calls in window, 40%
  EXPECT_EQ(breaker.state(), State::kClosed);
  breaker.RecordFailure();  // 11 calls, 5 failures: 45%
  EXPECT_EQ(breaker.state(), State::kClosed);
  breaker.RecordFailure();  // 12 calls, 6 failures: 50%
  EXPECT_EQ(breaker.state(), State::kOpen);
}

TEST(CircuitBreakerTest, HalfOpenProbeSuccessCloses) {
  core::ManualClock clock;
  core::Registry registry;
  CircuitBreaker breaker("p", ConsecutiveOnly(1), &clock, &registry);
  breaker.RecordFailure();
  ASSERT_EQ(breaker.state(), State::kOpen);
  clock.Advance(absl::Seconds(10) - absl::Milliseconds(1));
  EXPECT_FALSE(breaker.Allow());
  EXPECT_EQ(breaker.state(), State::kOpen);
  clock.Advance(absl::Milliseconds(1));
  EXPECT_TRUE(breaker.Allow());  // the probe
  EXPECT_EQ(breaker.state(), State::kHalfOpen);
  EXPECT_FALSE(breaker.Allow());  // only one probe at a time
  breaker.RecordSuccess();
  EXPECT_EQ(breaker.state(), State::kClosed);
  EXPECT_TRUE(breaker.Allow());
  EXPECT_EQ(Transitions(registry, "half_open"), 1);
  EXPECT_EQ(Transitions(registry, "closed"), 1);
  EXPECT_EQ(registry.GetGauge("mangaassist_circuit_breaker_state", "", {{"breaker", "p"}}).Value(),
            0);
}

TEST(CircuitBreakerTest, HalfOpenProbeFailureReopensWithLongerCooldown) {
  core::ManualClock clock;
  CircuitBreaker breaker("p", ConsecutiveOnly(1), &clock);
  breaker.RecordFailure();
  EXPECT_EQ(breaker.cooldown(), absl::Seconds(10));
  clock.Advance(absl::Seconds(10));
  ASSERT_TRUE(breaker.Allow());
  breaker.RecordFailure();
  EXPECT_EQ(breaker.state(), State::kOpen);
  EXPECT_EQ(breaker.cooldown(), absl::Seconds(20));
  clock.Advance(absl::Seconds(10));
  EXPECT_FALSE(breaker.Allow());  // the grown cooldown holds
  clock.Advance(absl::Seconds(10));
  ASSERT_TRUE(breaker.Allow());
  breaker.RecordFailure();
  EXPECT_EQ(breaker.cooldown(), absl::Seconds(30));  // capped at max_cooldown
  clock.Advance(absl::Seconds(30));
  ASSERT_TRUE(breaker.Allow());
  breaker.RecordSuccess();
  EXPECT_EQ(breaker.state(), State::kClosed);
  EXPECT_EQ(breaker.cooldown(), absl::Seconds(10));  // back to the base after closing
}

TEST(CircuitBreakerTest, HalfOpenAdmitsKProbesAndNeedsAllToSucceed) {
  core::ManualClock clock;
  CircuitBreakerConfig config = ConsecutiveOnly(1);
  config.half_open_probes = 3;
  CircuitBreaker breaker("p", config, &clock);
  breaker.RecordFailure();
  clock.Advance(absl::Seconds(10));
  EXPECT_TRUE(breaker.Allow());
  EXPECT_TRUE(breaker.Allow());
  EXPECT_TRUE(breaker.Allow());
  EXPECT_FALSE(breaker.Allow());
  breaker.RecordSuccess();
  breaker.RecordSuccess();
  EXPECT_EQ(breaker.state(), State::kHalfOpen);
  breaker.RecordSuccess();
  EXPECT_EQ(breaker.state(), State::kClosed);
}

TEST(CircuitBreakerTest, AbandonedProbeFreesItsSlot) {
  core::ManualClock clock;
  CircuitBreaker breaker("p", ConsecutiveOnly(1), &clock);
  breaker.RecordFailure();
  clock.Advance(absl::Seconds(10));
  ASSERT_TRUE(breaker.Allow());
  EXPECT_FALSE(breaker.Allow());
  breaker.RecordAbandoned();
  EXPECT_EQ(breaker.state(), State::kHalfOpen);
  EXPECT_TRUE(breaker.Allow());
}

TEST(CircuitBreakerTest, LateResultsOfEarlierCallsDoNotDecideProbes) {
  core::ManualClock clock;
  CircuitBreaker breaker("p", ConsecutiveOnly(1), &clock);
  breaker.RecordFailure();
  breaker.RecordSuccess();  // a call admitted before opening: ignored while open
  EXPECT_EQ(breaker.state(), State::kOpen);
  clock.Advance(absl::Seconds(10));
  ASSERT_TRUE(breaker.Allow());
  EXPECT_EQ(breaker.state(), State::kHalfOpen);
}

TEST(CircuitBreakerTest, ConcurrentUseIsSafe) {
  core::ManualClock clock;
  CircuitBreakerConfig config;
  config.consecutive_failures = 50;
  config.error_rate = 0.9;
  config.min_calls = 100;
  CircuitBreaker breaker("p", config, &clock);
  std::atomic<int64_t> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&breaker, &allowed, &clock, t] {
      for (int i = 0; i < 2000; ++i) {
        if (!breaker.Allow()) continue;
        allowed.fetch_add(1);
        if ((i + t) % 3 == 0) {
          breaker.RecordFailure();
        } else {
          breaker.RecordSuccess();
        }
        if (i % 100 == 0) clock.Advance(absl::Milliseconds(10));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_GT(allowed.load(), 0);
  EXPECT_EQ(breaker.state(), State::kClosed);  // a third failing never trips 90%
}

}  // namespace
}  // namespace mangaassist::http
