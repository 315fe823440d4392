#include "telemetry/kpi.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace mangaassist::telemetry {
namespace {

using core::CostComponent;
using core::Money;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kHour0 = 1'700'000'000'000 / kMillisPerHour * kMillisPerHour;
const std::vector<std::string> kAllStages = {"admit", "normalize", "intent",   "cache",  "session",
                                             "rag",   "call",      "capacity", "budget", "record"};

Money Nanos(int64_t n) { return Money::FromNanos(n); }

HourlyRollup Cell(core::Lang lang, core::Route route, int64_t requests, std::string model = "m") {
  HourlyRollup r;
  r.hour_start_ms = kHour0;
  r.lang = lang;
  r.route = route;
  r.model = std::move(model);
  r.requests = requests;
  return r;
}

void Set(HourlyRollup* r, CostComponent c, int64_t actual, int64_t baseline) {
  r->cost[static_cast<size_t>(c)] = Nanos(actual);
  r->baseline_cost[static_cast<size_t>(c)] = Nanos(baseline);
  Money total;
  for (Money m : r->baseline_cost) total += m;
  r->baseline = total;
}

const StoryKpi& StoryOf(const KpiReport& report, const std::string& slice, Story story) {
  for (const SliceKpi& s : report.slices) {
    if (s.name == slice) return s.stories[static_cast<size_t>(story)];
  }
  ADD_FAILURE() << "no slice " << slice;
  return report.slices.at(0).stories[0];
}

const SliceKpi& SliceOf(const KpiReport& report, const std::string& name) {
  for (const SliceKpi& s : report.slices) {
    if (s.name == name) return s;
  }
  ADD_FAILURE() << "no slice " << name;
  return report.slices.at(0);
}

TEST(KpiTest, LlmSpendReductionIsExactAndOnTrack) {
  HourlyRollup r = Cell(core::Lang::kEn, core::Route::kHaiku, 10);
  Set(&r, CostComponent::kLlmInput, 3'000'000, 8'000'000);
  Set(&r, CostComponent::kLlmOutput, 1'000'000, 2'000'000);
  r.savings[static_cast<size_t>(Story::kUs01)] = Nanos(6'000'000);
  KpiReport report = ComputeKpi({r}, {"admit", "call"}, kHour0, kHour0 + kMillisPerHour);

  const StoryKpi& k = StoryOf(report, "all", Story::kUs01);
  EXPECT_EQ(k.id, "US-01");
  EXPECT_EQ(k.baseline, Nanos(10'000'000));
  EXPECT_EQ(k.actual, Nanos(4'000'000));
  EXPECT_EQ(k.savings, Nanos(6'000'000));
  ASSERT_TRUE(k.value.has_value());
  EXPECT_DOUBLE_EQ(*k.value, 0.60);
  EXPECT_EQ(k.status, KpiStatus::kOnTrack);

  const SliceKpi& all = SliceOf(report, "all");
  EXPECT_EQ(all.requests, 10);
  EXPECT_EQ(all.actual, Nanos(4'000'000));
  EXPECT_EQ(all.baseline, Nanos(10'000'000));
  ASSERT_TRUE(all.reduction.has_value());
  EXPECT_DOUBLE_EQ(*all.reduction, 0.60);
}

TEST(KpiTest, OverallReductionLeavesOutLinesThatAreNotMetered) {
  HourlyRollup r = Cell(core::Lang::kEn, core::Route::kHaiku, 10);
  Set(&r, CostComponent::kLlmInput, 4'000'000, 10'000'000);
  // The baseline pays for DynamoDB and compute; the gateway does not meter them (actual 0):
  // counting them would read as savings that were never measured.
  Set(&r, CostComponent::kSessionStore, 0, 5'000'000);
  Set(&r, CostComponent::kCompute, 0, 5'000'000);
  const KpiReport report = ComputeKpi({r}, {"call"}, kHour0, kHour0 + kMillisPerHour);
  const SliceKpi& all = SliceOf(report, "all");
  ASSERT_TRUE(all.reduction.has_value());
  EXPECT_DOUBLE_EQ(*all.reduction, 0.60);
  EXPECT_EQ(all.metered_baseline, Nanos(10'000'000));
  EXPECT_EQ(all.baseline, Nanos(20'000'000));
}

TEST(KpiTest, ReductionBelowTargetIsOffTrack) {
  HourlyRollup r = Cell(core::Lang::kJa, core::Route::kSonnet, 1);
  Set(&r, CostComponent::kLlmInput, 7'000'000, 10'000'000);
  KpiReport report = ComputeKpi({r}, {"call"}, kHour0, kHour0 + kMillisPerHour);
  const StoryKpi& k = StoryOf(report, "ja", Story::kUs01);
  ASSERT_TRUE(k.value.has_value());
  EXPECT_NEAR(*k.value, 0.30, 1e-12);
  EXPECT_EQ(k.status, KpiStatus::kOffTrack);
}

TEST(KpiTest, RespondStageAlsoCountsForLlmTokens) {
  HourlyRollup r = Cell(core::Lang::kEn, core::Route::kHaiku, 1);
  Set(&r, CostComponent::kLlmInput, 5, 10);
  KpiReport report = ComputeKpi({r}, {"respond"}, kHour0, kHour0 + kMillisPerHour);
  EXPECT_EQ(StoryOf(report, "all", Story::kUs01).status, KpiStatus::kOnTrack);
}

TEST(KpiTest, MissingStageIsNoDataNeverANumber) {
  HourlyRollup r = Cell(core::Lang::kEn, core::Route::kCache, 5);
  for (size_t c = 0; c < kCostComponentCount; ++c) {
    Set(&r, static_cast<CostComponent>(c), 1, 1'000);
  }
  KpiReport report = ComputeKpi({r}, {"admit", "normalize"}, kHour0, kHour0 + kMillisPerHour);
  for (const StoryKpi& k : SliceOf(report, "all").stories) {
    EXPECT_EQ(k.status, KpiStatus::kNoData) << k.id;
    EXPECT_FALSE(k.value.has_value()) << k.id;
    EXPECT_FALSE(k.note.empty()) << k.id;
  }
  EXPECT_EQ(StoryOf(report, "all", Story::kUs02).note, "stage `intent` is not in the pipeline");
  EXPECT_THAT(StoryOf(report, "all", Story::kUs04).note,
              HasSubstr("compute is not metered per request yet"));
  EXPECT_THAT(KpiText(report), Not(HasSubstr("on track")));
}

TEST(KpiTest, ZeroBaselineIsNoData) {
  HourlyRollup r = Cell(core::Lang::kEn, core::Route::kHaiku, 3);
  Set(&r, CostComponent::kLlmInput, 4'000, 0);
  KpiReport report = ComputeKpi({r}, {"call"}, kHour0, kHour0 + kMillisPerHour);
  const StoryKpi& k = StoryOf(report, "all", Story::kUs01);
  EXPECT_EQ(k.status, KpiStatus::kNoData);
  EXPECT_FALSE(k.value.has_value());
  EXPECT_FALSE(SliceOf(report, "all").reduction.has_value());
}

TEST(KpiTest, EmptyWindowIsNoDataEverywhere) {
  KpiReport report = ComputeKpi({}, kAllStages, kHour0, kHour0 + kMillisPerHour);
  ASSERT_EQ(report.slices.size(), 4u);
  for (const SliceKpi& s : report.slices) {
    EXPECT_EQ(s.requests, 0);
    for (const StoryKpi& k : s.stories) EXPECT_EQ(k.status, KpiStatus::kNoData) << k.id;
  }
}

TEST(KpiTest, CacheHitRateCountsBothCacheRoutes) {
  std::vector<HourlyRollup> rollups = {Cell(core::Lang::kEn, core::Route::kCache, 50),
                                       Cell(core::Lang::kEn, core::Route::kSemanticCache, 25),
                                       Cell(core::Lang::kEn, core::Route::kHaiku, 25)};
  KpiReport report = ComputeKpi(rollups, {"cache", "call"}, kHour0, kHour0 + kMillisPerHour);
  const StoryKpi& k = StoryOf(report, "all", Story::kUs03);
  ASSERT_TRUE(k.value.has_value());
  EXPECT_DOUBLE_EQ(*k.value, 0.75);
  EXPECT_EQ(k.status, KpiStatus::kOnTrack);

  rollups[0].requests = 10;  // 35 of 60
  report = ComputeKpi(rollups, {"cache"}, kHour0, kHour0 + kMillisPerHour);
  EXPECT_EQ(StoryOf(report, "all", Story::kUs03).status, KpiStatus::kOffTrack);
}

TEST(KpiTest, ComponentStoriesUseTheirOwnLines) {
  HourlyRollup r = Cell(core::Lang::kEn, core::Route::kHaiku, 1);
  Set(&r, CostComponent::kSessionStore, 2'000, 17'683);
  Set(&r, CostComponent::kEmbedding, 0, 240);
  Set(&r, CostComponent::kVectorSearch, 0, 48'000);
  Set(&r, CostComponent::kCompute, 40'000, 310'972);
  Set(&r, CostComponent::kAnalytics, 50, 32'224);
  KpiReport report = ComputeKpi({r}, kAllStages, kHour0, kHour0 + kMillisPerHour);
  const StoryKpi& us05 = StoryOf(report, "all", Story::kUs05);
  EXPECT_EQ(us05.baseline, Nanos(17'683));
  EXPECT_EQ(us05.actual, Nanos(2'000));
  EXPECT_EQ(us05.status, KpiStatus::kOnTrack);
  const StoryKpi& us06 = StoryOf(report, "all", Story::kUs06);
  EXPECT_EQ(us06.baseline, Nanos(48'240));
  EXPECT_DOUBLE_EQ(*us06.value, 1.0);
  const StoryKpi& us04 = StoryOf(report, "all", Story::kUs04);
  EXPECT_EQ(us04.baseline, Nanos(310'972));
  EXPECT_EQ(us04.actual, Nanos(40'000));
  const StoryKpi& us07 = StoryOf(report, "all", Story::kUs07);
  EXPECT_EQ(us07.baseline, Nanos(32'224));
  EXPECT_EQ(us07.status, KpiStatus::kOnTrack);
  // Stages present but the numbers are not metered: still no data.
  EXPECT_EQ(StoryOf(report, "all", Story::kUs02).status, KpiStatus::kNoData);
  EXPECT_EQ(StoryOf(report, "all", Story::kUs08).status, KpiStatus::kNoData);
}

TEST(KpiTest, IntentInferenceCostAgainstTheAlwaysOnEndpoint) {
  HourlyRollup en = Cell(core::Lang::kEn, core::Route::kHaiku, 3000);
  HourlyRollup ja = Cell(core::Lang::kJa, core::Route::kHaiku, 1000);
  IntentKpiInputs in;
  in.baseline_per_request = Nanos(34'500);   // 3 × $0.23 / 20,000 requests
  in.actual_per_million = Nanos(3'500'000);  // $0.0035 per million classifications
  in.version = "i1-000000000abc";
  in.threshold = 0.5;
  in.precision_at_threshold = 0.95;
  in.coverage = 0.8;
  in.classes = 16;
  in.trusted_classes = 14;
  in.drift_intent_psi = 0.25;
  KpiReport report =
      ComputeKpi({en, ja}, {"intent", "call"}, kHour0, kHour0 + kMillisPerHour, &in);
  const StoryKpi& k = StoryOf(report, "all", Story::kUs02);
  EXPECT_EQ(k.baseline, Nanos(4000 * 34'500));
  EXPECT_EQ(k.actual, Nanos(14'000));  // 4,000 × 3,500,000 / 1,000,000
  EXPECT_EQ(k.status, KpiStatus::kOnTrack);
  EXPECT_DOUBLE_EQ(*k.value, 1.0 - 14'000.0 / (4000.0 * 34'500));
  EXPECT_THAT(k.note, HasSubstr("precision at threshold 0.950 on dev"));
  EXPECT_THAT(k.note, HasSubstr("drift PSI intent 0.250"));
  EXPECT_EQ(StoryOf(report, "ja", Story::kUs02).baseline, Nanos(1000 * 34'500));
  EXPECT_THAT(KpiJson(report), HasSubstr("\"precision_at_threshold\": 0.95"));
  EXPECT_THAT(KpiText(report), HasSubstr("US-02: in-process classifier i1-000000000abc"));
  // Without the stage the figures are ignored.
  KpiReport without = ComputeKpi({en}, {"call"}, kHour0, kHour0 + kMillisPerHour, &in);
  EXPECT_EQ(StoryOf(without, "all", Story::kUs02).status, KpiStatus::kNoData);
  EXPECT_FALSE(without.intent.has_value());
}

TEST(KpiTest, UnmeteredAnalyticsIsNoDataNotAHundredPercent) {
  HourlyRollup r = Cell(core::Lang::kEn, core::Route::kHaiku, 1);
  Set(&r, CostComponent::kAnalytics, 0, 32'224);
  KpiReport report = ComputeKpi({r}, {"call", "record"}, kHour0, kHour0 + kMillisPerHour);
  const StoryKpi& k = StoryOf(report, "all", Story::kUs07);
  EXPECT_EQ(k.status, KpiStatus::kNoData);
  EXPECT_FALSE(k.value.has_value());
  EXPECT_EQ(k.note, "this pipeline's own analytics cost is not metered yet");
}

TEST(KpiTest, LanguageSlicesPartitionTheAllSlice) {
  std::vector<HourlyRollup> rollups;
  int64_t n = 1;
  for (core::Lang lang : {core::Lang::kEn, core::Lang::kJa, core::Lang::kMixed}) {
    for (core::Route route : {core::Route::kCache, core::Route::kHaiku, core::Route::kSonnet}) {
      HourlyRollup r = Cell(lang, route, n, n % 2 ? "a" : "b");
      for (size_t c = 0; c < kCostComponentCount; ++c) {
        Set(&r, static_cast<CostComponent>(c), n * 1'000 + static_cast<int64_t>(c),
            n * 3'000 + static_cast<int64_t>(c) * 7);
      }
      for (size_t s = 0; s < kStoryCount; ++s)
        r.savings[s] = Nanos(n * 11 + static_cast<int64_t>(s));
      rollups.push_back(r);
      ++n;
    }
  }
  KpiReport report = ComputeKpi(rollups, kAllStages, kHour0, kHour0 + kMillisPerHour);
  ASSERT_EQ(report.slices.size(), 4u);
  EXPECT_EQ(report.slices[0].name, "all");
  EXPECT_EQ(report.slices[1].name, "en");
  EXPECT_EQ(report.slices[2].name, "ja");
  EXPECT_EQ(report.slices[3].name, "mixed");
  const SliceKpi& all = report.slices[0];
  int64_t requests = 0;
  Money actual, baseline;
  std::array<Money, kStoryCount> story_baseline{}, story_actual{}, story_savings{};
  for (size_t i = 1; i < report.slices.size(); ++i) {
    const SliceKpi& s = report.slices[i];
    EXPECT_GT(s.requests, 0);
    requests += s.requests;
    actual += s.actual;
    baseline += s.baseline;
    for (size_t k = 0; k < kStoryCount; ++k) {
      story_baseline[k] += s.stories[k].baseline;
      story_actual[k] += s.stories[k].actual;
      story_savings[k] += s.stories[k].savings;
    }
  }
  EXPECT_EQ(requests, all.requests);
  EXPECT_EQ(requests, 45);
  EXPECT_EQ(actual, all.actual);
  EXPECT_EQ(baseline, all.baseline);
  for (size_t k = 0; k < kStoryCount; ++k) {
    EXPECT_EQ(story_baseline[k], all.stories[k].baseline) << all.stories[k].id;
    EXPECT_EQ(story_actual[k], all.stories[k].actual) << all.stories[k].id;
    EXPECT_EQ(story_savings[k], all.stories[k].savings) << all.stories[k].id;
  }
}

TEST(KpiTest, RollupsOutsideTheWindowAreIgnored) {
  HourlyRollup in = Cell(core::Lang::kEn, core::Route::kHaiku, 2);
  HourlyRollup before = in, at_end = in;
  before.hour_start_ms = kHour0 - kMillisPerHour;
  at_end.hour_start_ms = kHour0 + kMillisPerHour;
  KpiReport report = ComputeKpi({before, in, at_end}, {"call"}, kHour0, kHour0 + kMillisPerHour);
  EXPECT_EQ(SliceOf(report, "all").requests, 2);
}

TEST(KpiTest, FormatUsdRoundsToMicrosAndKeepsTwoToSixDecimals) {
  EXPECT_EQ(FormatUsd(Nanos(0)), "$0.00");
  EXPECT_EQ(FormatUsd(Nanos(12'500'000'000)), "$12.50");
  EXPECT_EQ(FormatUsd(Nanos(14'245'119)), "$0.014245");
  EXPECT_EQ(FormatUsd(Nanos(14'245'500)), "$0.014246");
  EXPECT_EQ(FormatUsd(Nanos(1'322'350)), "$0.001322");
  EXPECT_EQ(FormatUsd(Nanos(499)), "$0.00");
  EXPECT_EQ(FormatUsd(Nanos(-300)), "$0.00");
  EXPECT_EQ(FormatUsd(Nanos(-1'500)), "-$0.000002");
  EXPECT_EQ(FormatUsd(Nanos(-2'000'000'000)), "-$2.00");
}

TEST(KpiTest, TextHasOneAlignedTablePerSlice) {
  HourlyRollup r = Cell(core::Lang::kEn, core::Route::kHaiku, 10);
  Set(&r, CostComponent::kLlmInput, 4'000'000, 10'000'000);
  std::string text = KpiText(ComputeKpi({r}, {"call"}, kHour0, kHour0 + kMillisPerHour));
  EXPECT_THAT(text, HasSubstr("Story"));
  EXPECT_THAT(text, HasSubstr("Headline metric"));
  EXPECT_THAT(text, HasSubstr("[all] requests 10, actual $0.004, baseline $0.01; reduction on "
                              "metered lines 60.0% ($0.004 vs $0.01)"));
  EXPECT_THAT(text, HasSubstr("[mixed] requests 0"));
  EXPECT_THAT(text, HasSubstr("US-01 LLM Tokens"));
  EXPECT_THAT(text, HasSubstr("60.0%"));
  EXPECT_THAT(text, HasSubstr("on track"));
  EXPECT_THAT(text, HasSubstr("US-02: stage `intent` is not in the pipeline"));
  // Every row of a table puts "Status" / the status at the same column.
  size_t header = text.find("Story  ");
  ASSERT_NE(header, std::string::npos);
  size_t line_start = text.rfind('\n', header) + 1;
  std::string header_line = text.substr(line_start, text.find('\n', header) - line_start);
  size_t status_col = header_line.find("Status");
  size_t row = text.find("US-01 LLM Tokens");
  std::string row_line = text.substr(row, text.find('\n', row) - row);
  // Column positions in code points (the target column holds a multi-byte dash).
  auto cp = [](const std::string& s, size_t bytes) {
    size_t n = 0;
    for (size_t i = 0; i < bytes; ++i) n += (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80;
    return n;
  };
  EXPECT_EQ(cp(header_line, status_col), cp(row_line, row_line.find("on track")));
}

TEST(KpiTest, JsonHasMoneyAsNanosAndUsd) {
  HourlyRollup r = Cell(core::Lang::kMixed, core::Route::kHaiku, 4);
  Set(&r, CostComponent::kLlmInput, 4'000'000, 10'000'000);
  r.savings[0] = Nanos(6'000'000);
  auto j = nlohmann::json::parse(
      KpiJson(ComputeKpi({r}, {"call"}, kHour0, kHour0 + 2 * kMillisPerHour)));
  EXPECT_EQ(j["from_ms"], kHour0);
  EXPECT_EQ(j["to_ms"], kHour0 + 2 * kMillisPerHour);
  ASSERT_EQ(j["slices"].size(), 4u);
  const auto& mixed = j["slices"][3];
  EXPECT_EQ(mixed["name"], "mixed");
  EXPECT_EQ(mixed["requests"], 4);
  EXPECT_EQ(mixed["actual_nanos"], 4'000'000);
  EXPECT_EQ(mixed["baseline_usd"], "0.010000000");
  EXPECT_DOUBLE_EQ(mixed["reduction"].get<double>(), 0.6);
  ASSERT_EQ(mixed["stories"].size(), kStoryCount);
  const auto& us01 = mixed["stories"][0];
  EXPECT_EQ(us01["story"], "US-01");
  EXPECT_EQ(us01["status"], "on_track");
  EXPECT_DOUBLE_EQ(us01["value"].get<double>(), 0.6);
  EXPECT_EQ(us01["baseline_nanos"], 10'000'000);
  EXPECT_EQ(us01["actual_usd"], "0.004000000");
  EXPECT_EQ(us01["savings_nanos"], 6'000'000);
  EXPECT_EQ(us01["target"], "40–60%");
  const auto& us02 = mixed["stories"][1];
  EXPECT_EQ(us02["status"], "no_data");
  EXPECT_TRUE(us02["value"].is_null());
  EXPECT_EQ(j["slices"][1]["reduction"], nullptr);  // en: no traffic
  EXPECT_EQ(mixed["models"][0]["model"], "m");
}

TEST(KpiTest, HtmlIsSelfContainedAndEscapesText) {
  HourlyRollup r =
      Cell(core::Lang::kJa, core::Route::kHaiku, 3, "<script>alert('x')</script>&model");
  Set(&r, CostComponent::kLlmInput, 4'000'000, 10'000'000);
  std::string html = KpiHtml(ComputeKpi({r}, {"call"}, kHour0, kHour0 + kMillisPerHour));
  EXPECT_THAT(html, HasSubstr("<!DOCTYPE html>"));
  EXPECT_THAT(html, HasSubstr("<table>"));
  EXPECT_THAT(html, HasSubstr("<th>Headline metric</th>"));
  EXPECT_THAT(html, HasSubstr("<svg"));
  EXPECT_THAT(html, HasSubstr("on track"));
  EXPECT_THAT(html, HasSubstr("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;model"));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  // No external assets.
  EXPECT_THAT(html, Not(HasSubstr("http")));
  EXPECT_THAT(html, Not(HasSubstr("src=")));
  EXPECT_THAT(html, Not(HasSubstr("href=")));
}

}  // namespace
}  // namespace mangaassist::telemetry
