#include "telemetry/event_builder.h"

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "core/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "telemetry/event_codec.h"

namespace mangaassist::telemetry {
namespace {

using core::CostComponent;
using core::Money;
using ::testing::HasSubstr;
using ::testing::Not;

std::string SourcePath(const std::string& rel) {
  return std::string(MANGAASSIST_SOURCE_DIR) + "/" + rel;
}

TEST(IdHasherTest, IsHmacSha256TruncatedTo16BytesHex) {
  // RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?") =
  // 5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843.
  auto h = IdHasher::Create("Jefe");
  EXPECT_EQ(h->Hash("what do ya want for nothing?"), "5bdcc146bf60754e6a042426089575c7");
  // RFC 4231 test case 6: a 131-byte key (longer than a block is hashed first).
  auto long_key = IdHasher::Create(std::string(131, '\xaa'));
  EXPECT_EQ(long_key->Hash("Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f");
}

TEST(IdHasherTest, SameIdSameHashDifferentKeyDifferentHash) {
  auto a = IdHasher::Create("key-a");
  auto b = IdHasher::Create("key-b");
  EXPECT_EQ(a->Hash("user-42"), a->Hash("user-42"));
  EXPECT_NE(a->Hash("user-42"), a->Hash("user-43"));
  EXPECT_NE(a->Hash("user-42"), b->Hash("user-42"));
  EXPECT_EQ(a->Hash("user-42").size(), 32u);
  EXPECT_EQ(a->Hash(""), "");
}

class EventBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto prices = core::PriceTable::LoadFile(SourcePath("config/pricing.yaml"));
    ASSERT_TRUE(prices.ok()) << prices.status();
    auto b = LoadBaseline(SourcePath("config/baseline.yaml"), *prices);
    ASSERT_TRUE(b.ok()) << b.status();
    baseline_ = std::make_unique<Baseline>(*b);
    hasher_ = IdHasher::Create("test-secret-key");
    options_.hasher = hasher_.get();
    options_.baseline = baseline_.get();
  }

  core::RequestContext Context() {
    core::RequestContext ctx;
    ctx.request_id = "req-1";
    ctx.tenant = "acme";
    ctx.tier = core::Tier::kMember;
    ctx.session_id = "sess-secret-0001";
    ctx.user_id = "user-secret-0001";
    ctx.message = "where is my order MA-2025-004512?";  // 33 ASCII bytes: 9 rough tokens
    ctx.lang = core::Lang::kEn;
    ctx.intent = "order_status";
    ctx.intent_confidence = 0.97f;
    ctx.intent_version = "i1-00000000beef";
    ctx.route = core::Route::kHaiku;
    ctx.provider = "anthropic";
    ctx.degraded_level = 0;
    ctx.model = "claude-3-5-haiku-20241022";
    ctx.usage = {900, 120, 1'000, 0};
    ctx.redactions[1] = 2;
    ctx.cost.Add(CostComponent::kLlmInput, Money::FromNanos(720'000));
    ctx.cost.Add(CostComponent::kLlmOutput, Money::FromNanos(480'000));
    ctx.cost.Add(CostComponent::kLlmCacheRead, Money::FromNanos(80'000));
    clock_.Set(absl::FromUnixMillis(1'793'000'000'123));
    ctx.clock = &clock_;
    ctx.start_mono_ns = clock_.MonotonicNanos();
    clock_.Advance(absl::Microseconds(1'500));
    return ctx;
  }

  core::ManualClock clock_;
  std::unique_ptr<Baseline> baseline_;
  std::unique_ptr<IdHasher> hasher_;
  EventBuilderOptions options_;
};

TEST_F(EventBuilderTest, CopiesTheRequest) {
  core::RequestContext ctx = Context();
  CostEvent e = BuildCostEvent(ctx, options_);
  EXPECT_EQ(e.schema_version, kCostEventSchemaVersion);
  EXPECT_EQ(e.request_id, "req-1");
  EXPECT_EQ(e.ts_unix_ms, 1'793'000'000'123 + 1);  // the clock advanced 1.5 ms
  EXPECT_EQ(e.latency_us, 1'500);
  EXPECT_EQ(e.tenant, "acme");
  EXPECT_EQ(e.tier, core::Tier::kMember);
  EXPECT_EQ(e.lang, core::Lang::kEn);
  EXPECT_EQ(e.intent, "order_status");
  EXPECT_EQ(e.intent_confidence, 0.97f);
  EXPECT_EQ(e.intent_version, "i1-00000000beef");
  EXPECT_EQ(e.route, core::Route::kHaiku);
  EXPECT_EQ(e.provider, "anthropic");
  EXPECT_EQ(e.model, "claude-3-5-haiku-20241022");
  EXPECT_EQ(e.usage.cache_read_tokens, 1'000);
  EXPECT_EQ(e.redactions[1], 2);
  EXPECT_EQ(e.Total().nanos(), 1'280'000);
  EXPECT_EQ(e.http_status, 200);
  EXPECT_EQ(e.user_hash, hasher_->Hash("user-secret-0001"));
  EXPECT_EQ(e.session_hash, hasher_->Hash("sess-secret-0001"));
}

TEST_F(EventBuilderTest, CopiesStageLatencyAndOutcome) {
  core::RequestContext ctx = Context();
  ctx.stage_latency_us = {{"admit", 3}, {"call", 1'200}};
  ctx.outcome_code = static_cast<int>(absl::StatusCode::kResourceExhausted);
  CostEvent e = BuildCostEvent(ctx, options_);
  ASSERT_EQ(e.stage_latency_us.size(), 2u);
  EXPECT_EQ(e.stage_latency_us[1].first, "call");
  EXPECT_EQ(e.stage_latency_us[1].second, 1'200);
  EXPECT_EQ(e.http_status, 429);
}

TEST_F(EventBuilderTest, ComputesBaselineAndSavingsThatSumToTheDifference) {
  core::RequestContext ctx = Context();
  CostEvent e = BuildCostEvent(ctx, options_);
  // The message is 9 rough tokens, order_status, no history.
  BaselineCost want = baseline_->CostOf({9, 0, "order_status", core::Lang::kEn});
  EXPECT_EQ(e.baseline, want.total);
  Money by_component;
  for (size_t i = 0; i < kCostComponentCount; ++i) {
    EXPECT_EQ(e.baseline_cost[i], want.lines.Get(static_cast<core::CostComponent>(i)));
    by_component += e.baseline_cost[i];
  }
  EXPECT_EQ(by_component, e.baseline);
  EXPECT_GT(e.baseline_cost[static_cast<size_t>(core::CostComponent::kLlmInput)].nanos(), 0);
  Money sum;
  for (Money m : e.savings) sum += m;
  EXPECT_EQ(sum, e.baseline - e.Total());
  EXPECT_GT(e.savings[static_cast<size_t>(Story::kUs01)].nanos(), 0);

  // A calibrated counter replaces the rough count; history turns count.
  options_.count_tokens = [](std::string_view, core::Lang) -> int64_t { return 40; };
  ctx.history.resize(6);
  CostEvent e2 = BuildCostEvent(ctx, options_);
  EXPECT_EQ(e2.baseline, baseline_->CostOf({40, 6, "order_status", core::Lang::kEn}).total);
}

TEST_F(EventBuilderTest, EncodedEventHasNoRawIds) {
  core::RequestContext ctx = Context();
  std::string json = EncodeCostEventJson(BuildCostEvent(ctx, options_));
  EXPECT_THAT(json, Not(HasSubstr("user-secret-0001")));
  EXPECT_THAT(json, Not(HasSubstr("sess-secret-0001")));
  EXPECT_THAT(json, HasSubstr(hasher_->Hash("user-secret-0001")));
  auto back = DecodeCostEventJson(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->savings, BuildCostEvent(ctx, options_).savings);
}

// US-03: a cache hit costs nothing; the original call's LLM cost is credited to US-03 and the
// rest of the baseline is attributed as if that call had been made.
TEST_F(EventBuilderTest, ACacheHitCreditsTheAvoidedCallToUs03) {
  core::RequestContext called = Context();
  CostEvent original = BuildCostEvent(called, options_);
  core::RequestContext hit = Context();
  hit.route = core::Route::kCache;
  hit.provider.clear();
  hit.cached_route = called.route;
  hit.cached_usage = called.usage;
  hit.cached_cost = called.cost;
  hit.usage = {};
  hit.cost = {};
  CostEvent e = BuildCostEvent(hit, options_);
  EXPECT_EQ(e.route, core::Route::kCache);
  EXPECT_EQ(e.Total().nanos(), 0);
  EXPECT_EQ(e.baseline, original.baseline);
  Money sum;
  for (Money m : e.savings) sum += m;
  EXPECT_EQ(sum, e.baseline);
  const size_t us03 = static_cast<size_t>(Story::kUs03);
  EXPECT_EQ(e.savings[us03] - original.savings[us03], called.cost.Total());
  for (size_t i = 0; i < kStoryCount; ++i) {
    if (i == us03) continue;
    EXPECT_EQ(e.savings[i], original.savings[i]) << "story " << i;
  }
}

// The record stage captures on the request thread and completes on the spool's writer thread,
// after the request (and its context) is gone: the capture must own everything it needs.
TEST_F(EventBuilderTest, ACaptureCompletedAfterTheRequestIsGoneIsTheSameEvent) {
  for (bool cache_hit : {false, true}) {
    for (bool baseline_first : {false, true}) {
      auto ctx = std::make_unique<core::RequestContext>(Context());
      if (cache_hit) {
        ctx->cached_route = ctx->route;
        ctx->cached_usage = ctx->usage;
        ctx->cached_cost = ctx->cost;
        ctx->route = core::Route::kCache;
        ctx->usage = {};
        ctx->cost = {};
      }
      const std::string expected = EncodeCostEventJson(BuildCostEvent(*ctx, options_));
      CostEventCapture capture = CaptureCostEvent(*ctx);
      if (baseline_first) {
        const BaselineCost* b = ComputeCapturedBaseline(capture, options_);
        ASSERT_NE(b, nullptr);
        EXPECT_GT(b->total.nanos(), 0);
      }
      ctx->message = "something else entirely, and much longer than the original message";
      ctx->user_id = "another-user";
      ctx->session_id = "another-session";
      ctx->cached_cost = {};
      ctx.reset();
      const CostEvent e = CompleteCostEvent(std::move(capture), options_);
      EXPECT_EQ(EncodeCostEventJson(e), expected) << cache_hit << baseline_first;
      EXPECT_EQ(e.user_hash, hasher_->Hash("user-secret-0001"));
    }
  }
  options_.baseline = nullptr;
  CostEventCapture capture = CaptureCostEvent(Context());
  EXPECT_EQ(ComputeCapturedBaseline(capture, options_), nullptr);
}

TEST_F(EventBuilderTest, WithoutBaselineLeavesSavingsEmpty) {
  options_.baseline = nullptr;
  CostEvent e = BuildCostEvent(Context(), options_);
  EXPECT_EQ(e.baseline.nanos(), 0);
  for (Money m : e.savings) EXPECT_EQ(m.nanos(), 0);
}

}  // namespace
}  // namespace mangaassist::telemetry
