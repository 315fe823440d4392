#include "replay/replay.h"

#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "pipeline/stage_registry.h"
#include "rag/catalog.h"
#include "replay/generator.h"

namespace mangaassist::replay {
namespace {

const std::string kSource = MANGAASSIST_SOURCE_DIR;
const std::string kGolden = kSource + "/tests/data/replay";

core::Config Load(const std::string& path) {
  auto c = core::LoadConfigFile(path);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : core::DefaultConfig();
}

ReplayOptions GoldenOptions() {
  ReplayOptions o;
  o.optimized = Load(kGolden + "/optimized.yaml");
  o.baseline = Load(kGolden + "/baseline.yaml");
  auto routes = LoadRouteTable(kSource + "/config/replay-routes.yaml");
  EXPECT_TRUE(routes.ok()) << routes.status();
  o.routes = *routes;
  return o;
}

ReplayOptions DefaultOptions() {
  ReplayOptions o = GoldenOptions();
  o.optimized = Load(kSource + "/config/replay.yaml");
  o.baseline = Load(kSource + "/config/replay-baseline.yaml");
  return o;
}

struct Outcome {
  absl::Status status;
  ReplayResult result;
};

Outcome Replay(ReplayOptions options, std::istream* in) {
  auto r = Replayer::Create(std::move(options));
  EXPECT_TRUE(r.ok()) << r.status();
  Outcome out;
  out.status = (*r)->Run(in, nullptr);
  out.result = (*r)->result();
  return out;
}

Outcome ReplayFile(ReplayOptions options, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Replay(std::move(options), &in);
}

std::string GeneratedTrace(uint64_t seed, int64_t n, int days) {
  rag::LoadReport report;
  auto catalog = rag::Catalog::LoadJsonl(kSource + "/data/catalog/catalog.jsonl", &report);
  EXPECT_TRUE(catalog.ok());
  GeneratorOptions g;
  g.seed = seed;
  g.messages = n;
  g.days = days;
  g.catalog = catalog->get();
  auto gen = TraceGenerator::Create(std::move(g));
  std::string out;
  (*gen)->Generate([&out](const TraceRecord& r) { AppendTraceLine(r, &out); });
  return out;
}

// Hand-computed (docs/replay.md "Golden trace"). Rough token counts (llm/token_count.h): one
// per started 4 ASCII bytes, one per other character, 4 of framing per message.
//   system prompt "Be brief." = 9 bytes → 3 tokens.
//   line 1, guest, "hi" → 1 token; prompt 3 + 1 + 4 = 8.
//   line 2, premium, "ワンピースは全何巻ですか？" → NFKC turns "？" into "?": 12 + 1 = 13;
//           prompt 3 + 13 + 4 = 20.
//   line 3, member, "Is One Piece vol 105 in stock?" → 30 bytes, 8 tokens; prompt 15.
// Baseline prompt extra (config/baseline.yaml): system 1200 − 3 + RAG 10 × 250 = 3697.
// Prices per token (config/pricing.yaml): Haiku 3.5 in 800 / out 4000 nano-USD; Sonnet 3.5
// in 3000 / out 15000. No regional uplift (us-east-1).
//   optimized: 1 haiku  8 × 800 + 20 × 4000                = 86,400
//              2 sonnet 20 × 3000 + 300 × 15000            = 4,560,000
//              3 haiku  15 × 800 + min(2000, 512) × 4000   = 2,060,000      total 6,706,400
//   baseline:  1 sonnet (8 + 3697) × 3000 + 20 × 15000     = 11,415,000
//              2 sonnet (20 + 3697) × 3000 + 300 × 15000   = 15,651,000
//              3 sonnet (15 + 3697) × 3000 + 1024 × 15000  = 26,496,000     total 53,562,000
// Analytics (US-07), metered because the optimized run's `record` charges its own cost: per
// event 1,536 B kept 30 days at $0.08 / GB-month = 114 (the 25 µs of CPU round to 0) against
// the baseline's 32,224 (docs/events.md). Totals with it: optimized 6,706,400 + 3 × 114 =
// 6,706,742; baseline 53,562,000 + 3 × 32,224 = 53,658,672.
TEST(ReplayTest, GoldenTraceCostsWhatWasComputedByHand) {
  Outcome run = ReplayFile(GoldenOptions(), kGolden + "/golden.jsonl");
  ASSERT_TRUE(run.status.ok()) << run.status;
  const ReplayResult& r = run.result;
  EXPECT_EQ(r.messages, 3);
  EXPECT_EQ(r.bad_lines, 0);
  EXPECT_EQ(r.optimized.nanos(), 6'706'400 + 3 * 114);
  EXPECT_EQ(r.baseline.nanos(), 53'562'000 + 3 * 32'224);
  EXPECT_EQ(r.routes.at("haiku"), 2);
  EXPECT_EQ(r.routes.at("sonnet"), 1);
  EXPECT_EQ(r.baseline_routes.at("sonnet"), 3);
  EXPECT_EQ(r.by_lang.at("en").messages, 2);
  EXPECT_EQ(r.by_lang.at("en").optimized.nanos(), 86'400 + 2'060'000 + 2 * 114);
  EXPECT_EQ(r.by_lang.at("en").baseline.nanos(), 11'415'000 + 26'496'000 + 2 * 32'224);
  EXPECT_EQ(r.by_lang.at("ja").optimized.nanos(), 4'560'000 + 114);
  EXPECT_EQ(r.by_lang.at("mixed").messages, 0);
  // Routes called for: greeting → template, product_info → haiku, product_search → haiku.
  EXPECT_EQ(r.labelled, 3);
  EXPECT_EQ(r.equivalent, 1);
  ASSERT_TRUE(r.decision_equivalence.has_value());
  EXPECT_DOUBLE_EQ(*r.decision_equivalence, 1.0 / 3);
  EXPECT_FALSE(r.cache_false_hit_rate.has_value());  // no cache stage
  // US-01 from the KPI rollup: 1 − 6,706,400 / 53,562,000.
  const telemetry::StoryKpi& us01 = r.kpi.slices[0].stories[0];
  ASSERT_TRUE(us01.value.has_value());
  EXPECT_DOUBLE_EQ(*us01.value, 1.0 - 6'706'400.0 / 53'562'000.0);
  EXPECT_EQ(us01.status, telemetry::KpiStatus::kOnTrack);
  // Savings still add up exactly to baseline − actual (docs/events.md), with the measured
  // baseline.
  core::Money savings;
  for (const telemetry::StoryKpi& k : r.kpi.slices[0].stories) savings += k.savings;
  EXPECT_EQ(savings, r.kpi.slices[0].baseline - r.kpi.slices[0].actual);
  EXPECT_EQ(r.baseline_all - r.baseline,
            r.kpi.slices[0].baseline - r.kpi.slices[0].metered_baseline);
  // US-07: this gateway's own analytics line against the baseline's.
  const telemetry::StoryKpi& us07 = r.kpi.slices[0].stories[6];
  ASSERT_TRUE(us07.value.has_value());
  EXPECT_DOUBLE_EQ(*us07.value, 1.0 - (3.0 * 114) / (3.0 * 32'224));
  // Stories without stages report no data, never a number.
  for (size_t i = 1; i < r.kpi.slices[0].stories.size(); ++i) {
    if (i == 6) continue;  // US-07, above
    EXPECT_FALSE(r.kpi.slices[0].stories[i].value.has_value()) << i;
    EXPECT_EQ(r.kpi.slices[0].stories[i].status, telemetry::KpiStatus::kNoData) << i;
  }
  // One Asia/Tokyo day, far under the seed's cap; not enforced without a budget stage.
  ASSERT_EQ(r.days.size(), 1u);
  EXPECT_EQ(r.days[0].date, "2026-11-01");
  EXPECT_EQ(r.days[0].optimized_llm.nanos(), 6'706'400);
  EXPECT_FALSE(r.cap_enforced);
  const std::string json = ReplayJson(r, std::nullopt);
  EXPECT_NE(json.find("\"baseline_usd\": \"0.053658672\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"optimized_usd\": \"0.006706742\""), std::string::npos);
  EXPECT_NE(json.find("\"elapsed_s\": null"), std::string::npos);
  EXPECT_NE(json.find("\"status\": \"no data\""), std::string::npos);
}

TEST(ReplayTest, BrokenLinesAreCountedWithTheirLineNumbers) {
  Outcome run = ReplayFile(GoldenOptions(), kGolden + "/broken.jsonl");
  ASSERT_TRUE(run.status.ok()) << run.status;
  const ReplayResult& r = run.result;
  EXPECT_EQ(r.messages, 4);  // lines 1, 3, 7, 10
  EXPECT_EQ(r.bad_lines, 5);
  ASSERT_EQ(r.bad_line_errors.size(), 5u);
  const char* expected[] = {"line 2: malformed JSON", "line 4: missing field 'tier'",
                            "line 6: 'ts' is not an RFC 3339 time", "line 8: not a JSON object",
                            "line 9: 'tier' must be guest"};
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(r.bad_line_errors[i].rfind(expected[i], 0), 0u) << r.bad_line_errors[i];
  }
  EXPECT_FALSE(r.stopped_at_bad_line);
}

TEST(ReplayTest, StrictStopsAtTheFirstBadLine) {
  ReplayOptions o = GoldenOptions();
  o.strict = true;
  Outcome run = ReplayFile(std::move(o), kGolden + "/broken.jsonl");
  EXPECT_EQ(run.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(run.status.message().find("line 2"), std::string_view::npos);
  EXPECT_EQ(run.result.messages, 1);
  EXPECT_EQ(run.result.bad_lines, 1);
  EXPECT_TRUE(run.result.stopped_at_bad_line);
}

TEST(ReplayTest, SameTraceSameJsonByteForByte) {
  const std::string trace = GeneratedTrace(21, 3000, 2);
  std::istringstream a(trace), b(trace);
  const std::string ja = ReplayJson(Replay(DefaultOptions(), &a).result, std::nullopt);
  const std::string jb = ReplayJson(Replay(DefaultOptions(), &b).result, std::nullopt);
  EXPECT_EQ(ja, jb);
  EXPECT_NE(ja.find("\"messages\": 3000"), std::string::npos);
}

TEST(ReplayTest, RunawayIsCappedByTheBudgetAndBreaksTheCapWithoutIt) {
  const std::string trace = GeneratedTrace(22, 2000, 2);
  std::istringstream a(trace), b(trace), c(trace);
  ReplayOptions normal_options = DefaultOptions();
  normal_options.disable = {"US-08"};
  const ReplayResult normal = Replay(std::move(normal_options), &a).result;

  // Without US-08 the misrouting config runs away past a $1 cap...
  ReplayOptions o = DefaultOptions();
  o.scenario = Scenario::kRunaway;
  o.daily_cap = core::Money::FromNanos(1'000'000'000);  // $1 a day
  o.disable = {"US-08"};
  const ReplayResult runaway = Replay(std::move(o), &b).result;
  // Every request the model answered went to Sonnet; the rest came from the response cache.
  EXPECT_EQ(runaway.routes.count("haiku"), 0u);
  EXPECT_EQ(runaway.routes.at("sonnet") + runaway.routes.at("cache"), 2000);
  EXPECT_GT(runaway.optimized, normal.optimized * 2);
  EXPECT_EQ(runaway.scenario_status, "ran");
  EXPECT_GT(runaway.days_over_cap, 0);
  EXPECT_GT(runaway.largest_overshoot, core::Money::Zero());
  EXPECT_FALSE(runaway.cap_enforced);
  EXPECT_NE(ReplayJson(runaway, std::nullopt).find("\"enforced\": false"), std::string::npos);

  // ...with it (reserve / settle), every day stays within the cap and the rest is answered
  // without a model.
  ReplayOptions capped_options = DefaultOptions();
  capped_options.scenario = Scenario::kRunaway;
  capped_options.daily_cap = core::Money::FromNanos(1'000'000'000);
  const ReplayResult capped = Replay(std::move(capped_options), &c).result;
  EXPECT_TRUE(capped.cap_enforced);
  EXPECT_EQ(capped.days_over_cap, 0);
  EXPECT_EQ(capped.largest_overshoot, core::Money::Zero());
  ASSERT_FALSE(capped.days.empty());
  for (const auto& d : capped.days) EXPECT_LE(d.optimized_llm, capped.daily_cap) << d.date;
  EXPECT_GT(capped.routes.at("extractive"), 0);
  const auto& us08 =
      capped.kpi.slices[0].stories[static_cast<size_t>(telemetry::Story::kUs08)];
  EXPECT_EQ(us08.status, telemetry::KpiStatus::kOnTrack);
  ASSERT_TRUE(us08.value.has_value());
  EXPECT_DOUBLE_EQ(*us08.value, 1.0);
}

TEST(ReplayTest, Burst10xReplaysEveryMessageTenTimes) {
  std::istringstream in(GeneratedTrace(23, 300, 1));
  ReplayOptions o = DefaultOptions();
  o.scenario = Scenario::kBurst10x;
  const ReplayResult r = Replay(std::move(o), &in).result;
  EXPECT_EQ(r.messages, 300);
  EXPECT_EQ(r.requests, 3000);
  EXPECT_EQ(r.kpi.slices[0].requests, 3000);
}

TEST(ReplayTest, ProviderBrownoutExercisesRetriesAndFallback) {
  std::istringstream in(GeneratedTrace(24, 2000, 1));
  ReplayOptions o = DefaultOptions();
  o.scenario = Scenario::kProviderBrownout;
  o.brownout_permille = 400;
  const ReplayResult r = Replay(std::move(o), &in).result;
  EXPECT_GT(r.retried_requests, 500);
  EXPECT_GT(r.fallback_requests, 0);
  EXPECT_GT(r.llm_attempts, r.requests);
  EXPECT_TRUE(r.baseline_failures.empty());  // the brown-out hits the optimized run only
}

TEST(ReplayTest, RedisOutageRunsLimitsAndHoldsOnTheFallbackAndTheCapHolds) {
  std::istringstream in(GeneratedTrace(25, 1000, 1));
  ReplayOptions o = DefaultOptions();
  o.scenario = Scenario::kRedisOutage;
  o.daily_cap = core::Money::FromNanos(500'000'000);  // $0.50
  const ReplayResult r = Replay(std::move(o), &in).result;
  EXPECT_EQ(r.scenario_status, "ran");
  EXPECT_EQ(r.messages, 1000);
  EXPECT_TRUE(r.cap_enforced);
  EXPECT_EQ(r.days_over_cap, 0);
  EXPECT_TRUE(r.baseline_failures.empty());
}

TEST(ReplayTest, RedisOutageSaysNoDataWithoutARedisBackedStage) {
  std::istringstream in(GeneratedTrace(25, 100, 1));
  ReplayOptions o = DefaultOptions();
  o.scenario = Scenario::kRedisOutage;
  o.disable = {"US-08", "US-03"};
  const ReplayResult r = Replay(std::move(o), &in).result;
  EXPECT_EQ(r.scenario_status, "no data");
  EXPECT_EQ(r.messages, 100);
}

TEST(ReplayTest, DisablingUs01RoutesEveryTierToTheBaselineModel) {
  std::istringstream in(GeneratedTrace(26, 500, 1));
  ReplayOptions o = DefaultOptions();
  o.disable = {"US-01"};
  const ReplayResult r = Replay(std::move(o), &in).result;
  EXPECT_EQ(r.routes.count("haiku"), 0u);
  EXPECT_EQ(r.routes.at("sonnet") + r.routes.at("cache"), 500);
  ASSERT_FALSE(r.notes.empty());
  EXPECT_NE(r.notes[0].find("US-01 disabled"), std::string::npos);
  ReplayOptions bad = DefaultOptions();
  bad.disable = {"US-09"};
  EXPECT_EQ(Replayer::Create(std::move(bad)).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ReplayTest, CacheFalseHitsAreJudgedByCanonicalId) {
  if (pipeline::FindStageFactory("cache") == nullptr) GTEST_SKIP() << "no cache stage built";
  ReplayOptions o = GoldenOptions();
  o.optimized = Load(kGolden + "/optimized-cache.yaml");
  const ReplayResult r = ReplayFile(std::move(o), kGolden + "/cache.jsonl").result;
  ASSERT_TRUE(r.cache_stage);
  // Line 2 gets line 1's answer about another user's card (a false hit); line 4 gets line 3's
  // answer to the same question (a true hit).
  EXPECT_EQ(r.routes.at("cache"), 2);
  EXPECT_EQ(r.cache_hits_judged, 2);
  EXPECT_EQ(r.cache_false_hits, 1);
  ASSERT_TRUE(r.cache_false_hit_rate.has_value());
  EXPECT_DOUBLE_EQ(*r.cache_false_hit_rate, 0.5);
  // Cache hits count as decision-equivalent (payment → template in the route table).
  EXPECT_EQ(r.equivalent, 2);

  // The shipped default (unknown_intent_scope: user) shares no answer of unknown intent across
  // users: no hit at all on this trace, so nothing to judge.
  ReplayOptions safe = GoldenOptions();
  safe.optimized = Load(kGolden + "/optimized-cache.yaml");
  safe.optimized.cache.response.unknown_intent_scope = "user";
  const ReplayResult s = ReplayFile(std::move(safe), kGolden + "/cache.jsonl").result;
  EXPECT_EQ(s.routes.count("cache"), 0u);
  EXPECT_EQ(s.cache_false_hits, 0);
  EXPECT_FALSE(s.cache_false_hit_rate.has_value());

  // Sharing widely but with the shipped personal cues: "my card was declined" stays with its
  // user, the payment-methods question is still shared — one true hit, no false one.
  ReplayOptions cues = GoldenOptions();
  cues.optimized = Load(kGolden + "/optimized-cache.yaml");
  cues.optimized.cache.response.personal_cues = core::ResponseCacheConfig::DefaultPersonalCues();
  const ReplayResult c = ReplayFile(std::move(cues), kGolden + "/cache.jsonl").result;
  EXPECT_EQ(c.routes.at("cache"), 1);
  EXPECT_EQ(c.cache_hits_judged, 1);
  EXPECT_EQ(c.cache_false_hits, 0);
  ASSERT_TRUE(c.cache_false_hit_rate.has_value());
  EXPECT_DOUBLE_EQ(*c.cache_false_hit_rate, 0.0);
}

}  // namespace
}  // namespace mangaassist::replay
