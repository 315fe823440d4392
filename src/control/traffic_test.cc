// TrafficControl on the in-process store: API keys, the degradation effects, the cap guarantee
// under concurrency, rate-limit answers, the Tokyo day and a restart that keeps today's spend.
#include "control/traffic.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <thread>

#include "absl/time/civil_time.h"
#include "gtest/gtest.h"

namespace mangaassist::control {
namespace {

using core::Money;

Money Cents(int64_t c) { return Money::FromNanos(c * 10'000'000); }

class TrafficTest : public ::testing::Test {
 protected:
  TrafficTest() {
    static int n = 0;
    dir_ = std::filesystem::temp_directory_path() /
           ("traffic_test_" + std::to_string(getpid()) + "_" + std::to_string(++n));
    config_ = core::DefaultConfig();
    config_.budget.ledger_sqlite_path = (dir_ / "ledger.db").string();
    config_.budget.daily_cap = Cents(100);
    config_.rate_limits.rules.clear();
    // 2026-11-27 12:00 in Tokyo.
    clock_.Set(absl::FromCivil(absl::CivilSecond(2026, 11, 27, 12, 0, 0),
                               absl::FixedTimeZone(9 * 3600)));
  }
  ~TrafficTest() override {
    traffic_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Make() {
    auto t = TrafficControl::Create(config_, &clock_, nullptr,
                                    [this](const BreakerTransition& tr) { transitions_.push_back(tr); });
    ASSERT_TRUE(t.ok()) << t.status();
    traffic_ = *std::move(t);
  }

  core::RequestContext Ctx(std::string id, core::Tier tier = core::Tier::kMember) {
    core::RequestContext ctx;
    ctx.request_id = std::move(id);
    ctx.clock = &clock_;
    ctx.tier = tier;
    ctx.user_id = "u1";
    ctx.client_ip = "10.0.0.1";
    return ctx;
  }

  // Reserve + a call that cost `actual` + settle.
  absl::Status Spend(const std::string& id, Money estimate, Money actual) {
    core::RequestContext ctx = Ctx(id);
    traffic_->Degrade(ctx, {});
    absl::Status st = traffic_->Acquire(ctx, {}, estimate, 100);
    if (!st.ok()) return st;
    if (ctx.traffic.llm_allowed) ctx.cost.Add(core::CostComponent::kLlmOutput, actual);
    traffic_->Settle(ctx);
    return ctx.traffic.over_budget ? absl::ResourceExhaustedError("over budget") : absl::OkStatus();
  }

  std::filesystem::path dir_;
  core::Config config_;
  core::ManualClock clock_;
  std::vector<BreakerTransition> transitions_;
  std::unique_ptr<TrafficControl> traffic_;
};

TEST_F(TrafficTest, ApiKeysResolveToTenantAndTier) {
  config_.auth.keys.push_back(
      core::ApiKeyConfig{"front", KeyDigest("secret-1"), "acme", core::Tier::kMember, Money()});
  Make();
  core::RequestContext ok = Ctx("a", core::Tier::kGuest);
  ok.api_key = "secret-1";
  ASSERT_TRUE(traffic_->Authenticate(ok).ok());
  EXPECT_EQ(ok.key_name, "front");
  EXPECT_EQ(ok.tenant, "acme");
  EXPECT_EQ(ok.tier, core::Tier::kMember);
  EXPECT_TRUE(ok.api_key.empty());

  core::RequestContext bad = Ctx("b");
  bad.api_key = "secret-2";
  EXPECT_EQ(traffic_->Authenticate(bad).code(), absl::StatusCode::kUnauthenticated);

  core::RequestContext above = Ctx("c");
  above.api_key = "secret-1";
  above.tier = core::Tier::kPremium;
  above.tier_given = true;
  EXPECT_EQ(traffic_->Authenticate(above).code(), absl::StatusCode::kPermissionDenied);

  core::RequestContext lower = Ctx("d");
  lower.api_key = "secret-1";
  lower.tier = core::Tier::kGuest;
  lower.tier_given = true;
  ASSERT_TRUE(traffic_->Authenticate(lower).ok());
  EXPECT_EQ(lower.tier, core::Tier::kGuest);

  core::RequestContext keyless = Ctx("e");
  keyless.tier = core::Tier::kPremium;
  keyless.tier_given = true;
  ASSERT_TRUE(traffic_->Authenticate(keyless).ok());
  EXPECT_EQ(keyless.tier, core::Tier::kPremium);  // trust_client_tier
}

TEST_F(TrafficTest, KeylessRequestsFollowTheGuestSettings) {
  config_.auth.keys.push_back(
      core::ApiKeyConfig{"front", KeyDigest("k"), "acme", core::Tier::kPremium, Money()});
  config_.auth.trust_client_tier = false;
  Make();
  core::RequestContext claims = Ctx("a");
  claims.tier = core::Tier::kPremium;
  claims.tier_given = true;
  ASSERT_TRUE(traffic_->Authenticate(claims).ok());
  EXPECT_EQ(claims.tier, core::Tier::kGuest);

  config_.auth.allow_guests = false;
  Make();
  core::RequestContext none = Ctx("b");
  EXPECT_EQ(traffic_->Authenticate(none).code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(TrafficTest, WithoutConfiguredKeysAnyCredentialIsIgnored) {
  Make();
  core::RequestContext ctx = Ctx("a", core::Tier::kGuest);
  ctx.api_key = "sk-whatever-the-sdk-sends";
  EXPECT_TRUE(traffic_->Authenticate(ctx).ok());
  EXPECT_TRUE(ctx.key_name.empty());
}

TEST_F(TrafficTest, DegradationEffectsPerLevelAndTier) {
  Make();
  struct Case {
    TrafficFlags flags;
    core::Tier tier;
    int level;
    bool floor, llm;
  } cases[] = {
      {{}, core::Tier::kGuest, 0, false, true},
      {{.degradation_active = true}, core::Tier::kGuest, 2, true, false},
      {{.degradation_active = true}, core::Tier::kMember, 2, true, true},
      {{.degradation_active = true}, core::Tier::kPremium, 2, false, true},
      {{.degradation_active = true, .breaker_enabled = false}, core::Tier::kMember, 2, true, true},
  };
  for (const Case& c : cases) {
    core::RequestContext ctx = Ctx("x", c.tier);
    traffic_->Degrade(ctx, c.flags);
    EXPECT_EQ(ctx.degraded_level, c.level);
    EXPECT_EQ(ctx.traffic.tier_floor, c.floor);
    EXPECT_EQ(ctx.traffic.llm_allowed, c.llm);
    EXPECT_EQ(ctx.traffic.suspend_scale_in, c.level >= 2);
  }
  // Spend to level 3: non-premium get no model; premium is exempt.
  ASSERT_TRUE(Spend("big", Cents(98), Cents(98)).ok());
  core::RequestContext member = Ctx("m");
  traffic_->Degrade(member, {});
  ASSERT_TRUE(traffic_->Acquire(member, {}, Cents(1), 10).ok());  // observes 98 %
  traffic_->Settle(member);
  core::RequestContext after = Ctx("m2");
  traffic_->Degrade(after, {});
  EXPECT_EQ(after.degraded_level, 3);
  EXPECT_FALSE(after.traffic.llm_allowed);
  core::RequestContext premium = Ctx("p", core::Tier::kPremium);
  traffic_->Degrade(premium, {});
  EXPECT_TRUE(premium.traffic.llm_allowed);
  // With the breaker switched off the ladder reads 0 (the cap itself still holds).
  core::RequestContext off = Ctx("o");
  traffic_->Degrade(off, {.breaker_enabled = false});
  EXPECT_EQ(off.degraded_level, 0);
  EXPECT_TRUE(off.traffic.llm_allowed);
  ASSERT_FALSE(transitions_.empty());
  EXPECT_EQ(transitions_.back().to, 3);
  EXPECT_EQ(transitions_.back().request_id, "big");  // the request whose hold reached 98 %
}

TEST_F(TrafficTest, SettledSpendStaysWithinCapPlusOneEstimateUnderConcurrency) {
  config_.cost_breaker.level3_percent = 1000;  // isolate the cap from the breaker
  config_.cost_breaker.level2_percent = 999;
  config_.cost_breaker.level1_percent = 998;
  config_.cost_breaker.velocity_level1_percent = 99998;
  config_.cost_breaker.velocity_level2_percent = 99999;
  Make();
  const Money max_estimate = Cents(9);
  std::atomic<int> served{0}, refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 40; ++i) {
        const Money estimate = Cents(1 + static_cast<int64_t>(rng() % 9));
        // Actual cost between a tenth of the estimate and all of it.
        const Money actual = Money::FromNanos(estimate.nanos() / 10 +
                                              static_cast<int64_t>(rng() % 100) *
                                                  (estimate.nanos() * 9 / 10) / 99);
        absl::Status st =
            Spend("r" + std::to_string(t) + "-" + std::to_string(i), estimate, actual);
        (st.ok() ? served : refused)++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_GT(refused.load(), 0);
  EXPECT_GT(served.load(), 10);
  ASSERT_TRUE(traffic_->ledger()->Flush().ok());
  auto view = traffic_->Budget();
  ASSERT_TRUE(view.ok()) << view.status();
  const Money spent = view->caps[0].spent;
  EXPECT_LE(spent, Cents(100) + max_estimate);
  EXPECT_EQ(view->caps[0].held, Money());  // every hold settled
  // The ledger agrees with the counters to the nano-dollar.
  auto day = traffic_->ledger()->SumDay(view->day);
  ASSERT_TRUE(day.ok());
  EXPECT_EQ(day->deployment, spent);
  EXPECT_EQ(day->rows, served.load());
}

TEST_F(TrafficTest, RateLimitsAnswer429WithHeaders) {
  config_.rate_limits.rules.push_back(core::RateRuleConfig{
      "per_user", core::RateScope::kUser, {}, 2, 2, 0, 0, absl::Minutes(1)});
  Make();
  for (int i = 0; i < 2; ++i) {
    core::RequestContext ctx = Ctx("ok" + std::to_string(i));
    ASSERT_TRUE(traffic_->Acquire(ctx, {}, Money(), 0).ok());
    traffic_->Settle(ctx);
  }
  core::RequestContext ctx = Ctx("limited");
  absl::Status st = traffic_->Acquire(ctx, {}, Money(), 0);
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(st.message().find("per_user"), absl::string_view::npos) << st;
  std::map<std::string, std::string> h(ctx.response_headers.begin(), ctx.response_headers.end());
  EXPECT_EQ(h["RateLimit-Limit"], "2");
  EXPECT_EQ(h["RateLimit-Remaining"], "0");
  EXPECT_EQ(h["Retry-After"], "30");
  // Another user is not limited; with the flag off nobody is.
  core::RequestContext other = Ctx("other");
  other.user_id = "u2";
  EXPECT_TRUE(traffic_->Acquire(other, {}, Money(), 0).ok());
  EXPECT_TRUE(traffic_->Acquire(ctx, {.rate_limits_enabled = false}, Money(), 0).ok());
}

TEST_F(TrafficTest, TheBudgetDayResetsAtTokyoMidnightAndSurvivesARestart) {
  Make();
  EXPECT_EQ(traffic_->Day(clock_.Now()), "2026-11-27");
  ASSERT_TRUE(Spend("a", Cents(95), Cents(95)).ok());
  EXPECT_FALSE(Spend("b", Cents(10), Cents(10)).ok());  // 95 + 10 > 100
  ASSERT_TRUE(traffic_->ledger()->Flush().ok());

  // A restarted replica remembers today's spend (from the ledger).
  traffic_.reset();
  Make();
  EXPECT_FALSE(Spend("c", Cents(10), Cents(10)).ok());

  // 2026-11-27T15:00:00Z is midnight in Tokyo: a new day, a fresh cap.
  clock_.Set(absl::FromCivil(absl::CivilSecond(2026, 11, 27, 15, 0, 0), absl::UTCTimeZone()));
  EXPECT_EQ(traffic_->Day(clock_.Now()), "2026-11-28");
  EXPECT_TRUE(Spend("d", Cents(10), Cents(10)).ok());
  EXPECT_EQ(traffic_->NextDay(clock_.Now()),
            absl::FromCivil(absl::CivilSecond(2026, 11, 28, 15, 0, 0), absl::UTCTimeZone()));
}

TEST_F(TrafficTest, OverBudgetRequestsAreStillRateLimited) {
  config_.rate_limits.rules.push_back(core::RateRuleConfig{
      "per_user", core::RateScope::kUser, {}, 1, 1, 0, 0, absl::Minutes(1)});
  config_.budget.daily_cap = Cents(1);
  Make();
  core::RequestContext a = Ctx("a");
  ASSERT_TRUE(traffic_->Acquire(a, {}, Cents(5), 10).ok());
  EXPECT_TRUE(a.traffic.over_budget);
  EXPECT_FALSE(a.traffic.llm_allowed);
  EXPECT_EQ(a.degraded_level, 3);
  core::RequestContext b = Ctx("b");
  EXPECT_EQ(traffic_->Acquire(b, {}, Cents(5), 10).code(), absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace mangaassist::control
