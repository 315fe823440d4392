#include "telemetry/baseline.h"

#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mangaassist::telemetry {
namespace {

using core::CostComponent;
using core::Money;
using ::testing::HasSubstr;

std::string SourcePath(const std::string& rel) {
  return std::string(MANGAASSIST_SOURCE_DIR) + "/" + rel;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class BaselineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto prices = core::PriceTable::LoadFile(SourcePath("config/pricing.yaml"));
    ASSERT_TRUE(prices.ok()) << prices.status();
    prices_ = *prices;
    yaml_ = ReadFile(SourcePath("config/baseline.yaml"));
    auto b = LoadBaseline(SourcePath("config/baseline.yaml"), prices_);
    ASSERT_TRUE(b.ok()) << b.status();
    baseline_ = std::make_unique<Baseline>(*b);
  }
  std::string LoadError(const std::string& yaml) {
    auto b = LoadBaselineString(yaml, "baseline.yaml", prices_);
    return b.ok() ? std::string("ok") : std::string(b.status().message());
  }
  std::string Replace(std::string_view from, std::string_view to) {
    std::string y = yaml_;
    size_t at = y.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) y.replace(at, from.size(), to);
    return y;
  }

  core::PriceTable prices_;
  std::string yaml_;
  std::unique_ptr<Baseline> baseline_;
};

int64_t Line(const BaselineCost& c, CostComponent comp) { return c.lines.Get(comp).nanos(); }

// The fixed per-request parts, from config/baseline.yaml and config/pricing.yaml (us-east-1, no
// uplift), all in nano-USD:
//   intent:  3 instances x 230,000,000 (sagemaker $0.23/h) / 20,000 req/h          =  34,500
//   compute: 28 tasks x (4 x 40,480,000 + 8 x 4,445,000) (Fargate x86 $/h) / 20,000 = 276,472
//   vector:  4 OCU x 240,000,000 ($0.24/OCU-h) / 20,000                             =  48,000
//   analytics: shards 8 x 15,000,000 / 20,000 = 6,000; put: 1 unit (4096 B < 25 KB) x
//     14,000,000 / 1e6 = 14; Firehose 4096 B x 29,000,000 / 2^30 = 110.6 -> 111; Redshift
//     32 RPU-h/day x 375,000,000 / (24 x 20,000) = 25,000; raw storage 4096 B x 24,000,000 x
//     12 months / 2^30 = 1098.6 -> 1,099; sum                                          =  32,224
TEST_F(BaselineTest, FixedPartsMatchHandComputation) {
  EXPECT_EQ(baseline_->intent_per_request().nanos(), 34'500);
  EXPECT_EQ(baseline_->compute_per_request().nanos(), 276'472);
  EXPECT_EQ(baseline_->vector_search_per_request().nanos(), 48'000);
  EXPECT_EQ(baseline_->analytics_per_request().nanos(), 32'224);
}

// Example 1: an English order-status question of 12 tokens, first message of its session.
//   LLM input: 1,200 system + 0 history + 10 x 250 RAG + 12 message = 3,712 tokens
//              x 3,000 (Sonnet $3/MTok)                                             = 11,136,000
//   LLM output: order_status 180 tokens (< max_tokens 1024) x 15,000 ($15/MTok)      =  2,700,000
//   embedding: 12 tokens x 20 (Titan V2 $0.02/MTok)                                  =        240
//   DynamoDB: writes 3 items x ceil(1200/1024)=2 WRU x 2 (transactional) = 12 WRU
//             x 625,000,000 / 1e6 = 7,500; read (0 + 1) x 1,200 B -> 1 RRU (strong)
//             x 125,000,000 / 1e6 = 125; storage 3 x 1,200 B x 250,000,000 x 12 / 2^30
//             = 10,058.3 -> 10,058                                                   =     17,683
//   compute: 276,472 + 34,500 (SageMaker)                                            =    310,972
//   total: 11,136,000 + 2,700,000 + 240 + 48,000 + 17,683 + 32,224 + 310,972         = 14,245,119
TEST_F(BaselineTest, EnglishFirstMessage) {
  BaselineCost c = baseline_->CostOf({12, 0, "order_status", core::Lang::kEn});
  EXPECT_EQ(c.input_tokens, 3'712);
  EXPECT_EQ(c.output_tokens, 180);
  EXPECT_EQ(Line(c, CostComponent::kLlmInput), 11'136'000);
  EXPECT_EQ(Line(c, CostComponent::kLlmOutput), 2'700'000);
  EXPECT_EQ(Line(c, CostComponent::kLlmCacheRead), 0);
  EXPECT_EQ(Line(c, CostComponent::kLlmCacheWrite), 0);
  EXPECT_EQ(Line(c, CostComponent::kEmbedding), 240);
  EXPECT_EQ(Line(c, CostComponent::kVectorSearch), 48'000);
  EXPECT_EQ(Line(c, CostComponent::kSessionStore), 17'683);
  EXPECT_EQ(Line(c, CostComponent::kCacheOps), 0);
  EXPECT_EQ(Line(c, CostComponent::kAnalytics), 32'224);
  EXPECT_EQ(Line(c, CostComponent::kCompute), 310'972);
  EXPECT_EQ(c.intent_inference.nanos(), 34'500);
  EXPECT_EQ(c.total.nanos(), 14'245'119);
}

// Example 2: a Japanese message of 40 tokens after 6 earlier turns, intent unknown.
//   LLM input: 1,200 + 6 x 170 + 2,500 + 40 = 4,760 tokens x 3,000                  = 14,280,000
//   LLM output: default 300 x 15,000                                                =  4,500,000
//   embedding: 40 x 20                                                              =        800
//   DynamoDB: writes 7,500; read (6 + 1) x 1,200 = 8,400 B -> 3 RRU x 125 = 375;
//             storage 10,058                                                        =     17,933
//   total: 14,280,000 + 4,500,000 + 800 + 48,000 + 17,933 + 32,224 + 310,972       = 19,189,929
TEST_F(BaselineTest, JapaneseMessageWithHistory) {
  BaselineCost c = baseline_->CostOf({40, 6, "", core::Lang::kJa});
  EXPECT_EQ(c.history_tokens, 1'020);
  EXPECT_EQ(Line(c, CostComponent::kLlmInput), 14'280'000);
  EXPECT_EQ(Line(c, CostComponent::kLlmOutput), 4'500'000);
  EXPECT_EQ(Line(c, CostComponent::kEmbedding), 800);
  EXPECT_EQ(Line(c, CostComponent::kSessionStore), 17'933);
  EXPECT_EQ(c.total.nanos(), 19'189'929);
  // An intent the table does not list takes the default too.
  EXPECT_EQ(baseline_->CostOf({40, 6, "no_such_intent", core::Lang::kJa}).total.nanos(),
            19'189'929);
}

// Example 3: example 1 priced in ap-northeast-1 (pricing.yaml uplift, each line rounded
// half-up): LLM input 11,136,000 x 1.05 = 11,692,800; output 2,700,000 x 1.05 = 2,835,000;
// embedding 240 x 1.05 = 252; vector 48,000 x 1.08 = 51,840; DynamoDB 17,683 x 1.12 = 19,804.96
// -> 19,805; analytics: kinesis (6,000 + 14 + 111) x 1.08 = 6,615 + redshift (25,000 + 1,099)
// x 1.10 = 28,708.9 -> 28,709 = 35,324; compute 276,472 x 1.08 = 298,589.76 -> 298,590 +
// SageMaker 34,500 x 1.10 = 37,950 = 336,540. Total 14,971,561.
TEST_F(BaselineTest, RegionalUplift) {
  auto b = LoadBaselineString(Replace("region: us-east-1", "region: ap-northeast-1"),
                              "baseline.yaml", prices_);
  ASSERT_TRUE(b.ok()) << b.status();
  BaselineCost c = b->CostOf({12, 0, "order_status", core::Lang::kEn});
  EXPECT_EQ(Line(c, CostComponent::kLlmInput), 11'692'800);
  EXPECT_EQ(Line(c, CostComponent::kLlmOutput), 2'835'000);
  EXPECT_EQ(Line(c, CostComponent::kEmbedding), 252);
  EXPECT_EQ(Line(c, CostComponent::kVectorSearch), 51'840);
  EXPECT_EQ(Line(c, CostComponent::kSessionStore), 19'805);
  EXPECT_EQ(Line(c, CostComponent::kAnalytics), 35'324);
  EXPECT_EQ(Line(c, CostComponent::kCompute), 336'540);
  EXPECT_EQ(c.total.nanos(), 14'971'561);
}

TEST_F(BaselineTest, PromptIsCappedAtTheContextWindow) {
  BaselineCost c = baseline_->CostOf({12, 5'000, "greeting", core::Lang::kEn});
  EXPECT_EQ(c.input_tokens, 200'000);
  EXPECT_EQ(Line(c, CostComponent::kLlmInput), 600'000'000);
  EXPECT_EQ(c.output_tokens, 60);
}

TEST_F(BaselineTest, OutputIsCappedAtMaxTokens) {
  auto b = LoadBaselineString(Replace("recommendation: 450", "recommendation: 4000"),
                              "baseline.yaml", prices_);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->CostOf({12, 0, "recommendation", core::Lang::kEn}).output_tokens, 1'024);
}

// US-07's actual analytics line, by hand from config/pricing.yaml: Fargate x86 $0.04048 per
// vCPU-hour = 40,480,000 nano-USD; EBS gp3 $0.08 per GB-month = 80,000,000 nano-USD.
TEST_F(BaselineTest, OwnAnalyticsCostPerEventMatchesHandComputation) {
  // 1 s of CPU: 40,480,000 / 3,600 = 11,244.4 → 11,244.
  auto cpu = OwnAnalyticsCostPerEvent(prices_, "us-east-1", 1'000'000, 0, 30);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_EQ(cpu->nanos(), 11'244);
  // 1,536 bytes for 30 days (one month): 80,000,000 × 1,536 / 2^30 = 114.4 → 114; 25 µs of CPU
  // adds 0.28 (rounded separately → 0).
  auto typical = OwnAnalyticsCostPerEvent(prices_, "us-east-1", 25, 1'536, 30);
  ASSERT_TRUE(typical.ok()) << typical.status();
  EXPECT_EQ(typical->nanos(), 114);
  // Tokyo's compute uplift (8%): 114 × 1.08 = 123.1 → 123. Twice the retention, twice storage.
  EXPECT_EQ(OwnAnalyticsCostPerEvent(prices_, "ap-northeast-1", 25, 1'536, 30)->nanos(), 123);
  EXPECT_EQ(OwnAnalyticsCostPerEvent(prices_, "us-east-1", 0, 1'536, 60)->nanos(), 229);
  EXPECT_EQ(OwnAnalyticsCostPerEvent(prices_, "us-east-1", 0, 0, 30)->nanos(), 0);
}

TEST_F(BaselineTest, RejectsUnknownKeyWithFileLineAndKey) {
  std::string s = LoadError(Replace("  rag_top_k: 10", "  rag_topk: 10"));
  // The line of the misspelt key, counted in the file.
  std::string before = yaml_.substr(0, yaml_.find("  rag_top_k: 10"));
  int line = 1 + static_cast<int>(std::count(before.begin(), before.end(), '\n'));
  EXPECT_THAT(s,
              HasSubstr("baseline.yaml:" + std::to_string(line) + ": llm.rag_topk: unknown key"));
}

TEST_F(BaselineTest, RejectsBadValuesAndMissingKeys) {
  EXPECT_THAT(LoadError(Replace("tasks_at_peak: 28", "tasks_at_peak: many")),
              HasSubstr("compute.tasks_at_peak: 'many' is not an integer"));
  EXPECT_THAT(LoadError(Replace("requests_per_hour: 20000", "requests_per_hour: 0")),
              HasSubstr("traffic.requests_per_hour: 0 is out of range"));
  EXPECT_THAT(LoadError(Replace("ocus: \"4\"", "ocus: \"-1\"")), HasSubstr("vector_search.ocus"));
  EXPECT_THAT(LoadError(Replace("strongly_consistent_reads: true",
                                "strongly_consistent_reads: yes please")),
              HasSubstr("session_store.strongly_consistent_reads"));
  EXPECT_THAT(LoadError(Replace("    default: 300", "    standard: 300")),
              HasSubstr("llm.output_tokens.default: missing"));
  EXPECT_THAT(LoadError(Replace("  max_tokens: 1024\n", "")), HasSubstr("llm.max_tokens: missing"));
  EXPECT_THAT(LoadError(Replace("model: claude-3-5-sonnet", "model: claude-9")),
              HasSubstr("no price for 'claude-9'"));
  EXPECT_THAT(LoadError("version: ["), HasSubstr("baseline.yaml:1: YAML syntax error"));
  EXPECT_THAT(LoadError(yaml_ + "extra: 1\n"), HasSubstr(": extra: unknown key"));
}

// --- savings attribution ------------------------------------------------------------------------

core::CostLines Lines(std::initializer_list<std::pair<CostComponent, int64_t>> items) {
  core::CostLines l;
  for (auto [c, n] : items) l.Add(c, Money::FromNanos(n));
  return l;
}

// The worked example of docs/events.md: example 1 answered by Claude 3.5 Haiku with RAG
// bypassed, 1,000 prompt tokens read from the prompt cache.
//   actual: llm_input 900 x 800 = 720,000; llm_output 120 x 4,000 = 480,000; cache read
//   1,000 x 80 = 80,000; session_store 2,000; cache_ops 300; analytics 50; compute 40,000
//   -> total 1,322,350; baseline - actual = 14,245,119 - 1,322,350 = 12,922,769.
//   At the baseline model: input (900 + 1,000) x 3,000 = 5,700,000; output 120 x 15,000 =
//   1,800,000.
//   US-01: routing 7,500,000 - 1,280,000 = 6,220,000; answer 2,700,000 - 1,800,000 = 900,000;
//          prompt share 5,436,000 - 3,661,099 (US-06) - 0 (US-05) = 1,774,901 -> 8,894,901
//   US-06: prompt 5,436,000 x 2,500 / 3,712 = 3,661,099 (truncated) + embedding 240
//          + vector search 48,000 -> 3,709,339
//   US-05: session store 17,683 - 2,000 = 15,683     US-03: cache ops 0 - 300 = -300
//   US-07: 32,224 - 50 = 32,174                       US-02: 34,500
//   US-04: (310,972 - 40,000) - 34,500 = 236,472      US-08: 0
TEST_F(BaselineTest, AttributesTheWorkedExample) {
  BaselineCost base = baseline_->CostOf({12, 0, "order_status", core::Lang::kEn});
  core::CostLines actual = Lines({{CostComponent::kLlmInput, 720'000},
                                  {CostComponent::kLlmOutput, 480'000},
                                  {CostComponent::kLlmCacheRead, 80'000},
                                  {CostComponent::kSessionStore, 2'000},
                                  {CostComponent::kCacheOps, 300},
                                  {CostComponent::kAnalytics, 50},
                                  {CostComponent::kCompute, 40'000}});
  SavingsInput in;
  in.actual_at_baseline_model = baseline_->AtBaselineModel({900, 120, 1'000, 0});
  EXPECT_EQ(in.actual_at_baseline_model.input.nanos(), 5'700'000);
  EXPECT_EQ(in.actual_at_baseline_model.output.nanos(), 1'800'000);
  auto s = AttributeSavings(base, actual, core::Route::kHaiku, in);
  std::array<int64_t, kStoryCount> want = {8'894'901, 34'500,    -300,   236'472,
                                           15'683,    3'709'339, 32'174, 0};
  for (size_t i = 0; i < kStoryCount; ++i) EXPECT_EQ(s[i].nanos(), want[i]) << "us0" << i + 1;
  Money sum;
  for (Money m : s) sum += m;
  EXPECT_EQ(sum.nanos(), 12'922'769);

  // The same request under degradation: the routing share moves from US-01 to US-08.
  in.degraded_level = 1;
  auto d = AttributeSavings(base, actual, core::Route::kHaiku, in);
  EXPECT_EQ(d[static_cast<size_t>(Story::kUs08)].nanos(), 6'220'000);
  EXPECT_EQ(d[static_cast<size_t>(Story::kUs01)].nanos(), 8'894'901 - 6'220'000);
}

TEST_F(BaselineTest, RoutesWithoutAnLlmCallGoToOneStory) {
  BaselineCost base = baseline_->CostOf({12, 0, "order_status", core::Lang::kEn});
  core::CostLines none;
  const int64_t llm = 13'836'000;
  auto story = [&](core::Route r, int degraded, Story st) {
    SavingsInput in;
    in.degraded_level = degraded;
    return AttributeSavings(base, none, r, in)[static_cast<size_t>(st)].nanos();
  };
  EXPECT_EQ(story(core::Route::kTemplate, 0, Story::kUs01), llm);
  EXPECT_EQ(story(core::Route::kExtractive, 0, Story::kUs01), llm);
  EXPECT_EQ(story(core::Route::kTemplate, 2, Story::kUs08), llm);
  EXPECT_EQ(story(core::Route::kCache, 0, Story::kUs03), llm);
  EXPECT_EQ(story(core::Route::kSemanticCache, 3, Story::kUs03), llm);
  EXPECT_EQ(story(core::Route::kNone, 0, Story::kUs08), llm);
}

// Whatever the inputs, the stories' savings add up exactly to baseline - actual.
TEST_F(BaselineTest, SavingsSumExactlyToBaselineMinusActual) {
  std::mt19937_64 rng(20260101);
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  const char* intents[] = {"", "greeting", "recommendation", "order_status", "unknown"};
  for (int i = 0; i < 20'000; ++i) {
    BaselineInput bi;
    bi.message_tokens = uniform(0, 5'000);
    bi.history_turns = uniform(0, 400);
    bi.intent = intents[uniform(0, 4)];
    BaselineCost base = baseline_->CostOf(bi);
    core::CostLines actual;
    for (size_t c = 0; c < kCostComponentCount; ++c) {
      // Mostly cheaper than the baseline, sometimes far more expensive.
      actual.Add(static_cast<CostComponent>(c),
                 Money::FromNanos(uniform(0, i % 7 == 0 ? 1'000'000'000 : 2'000'000)));
    }
    core::TokenUsage usage{uniform(0, 300'000), uniform(0, 8'000), uniform(0, 50'000),
                           uniform(0, 50'000)};
    SavingsInput in;
    in.actual_at_baseline_model = baseline_->AtBaselineModel(usage);
    in.degraded_level = static_cast<int>(uniform(0, 3));
    auto route = static_cast<core::Route>(uniform(0, static_cast<int64_t>(core::Route::kSonnet)));
    auto s = AttributeSavings(base, actual, route, in);
    Money sum;
    for (Money m : s) sum += m;
    ASSERT_EQ(sum.nanos(), (base.total - actual.Total()).nanos()) << "iteration " << i;
  }
}

}  // namespace
}  // namespace mangaassist::telemetry
