#include "telemetry/kpi.h"

#include <algorithm>
#include <cstdlib>
#include <initializer_list>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace mangaassist::telemetry {

namespace {

using core::CostComponent;
using core::Money;

struct StoryDef {
  Story story;
  const char* id;
  const char* title;
  const char* metric;
  const char* target;
  double target_low;
};

// The seed's Unified KPI Rollup, in story order.
constexpr std::array<StoryDef, kStoryCount> kStories = {{
    {Story::kUs01, "US-01", "LLM Tokens", "Bedrock spend reduction", "40–60%", 0.40},
    {Story::kUs02, "US-02", "Intent Classifier", "Inference cost reduction", "50–70%", 0.50},
    {Story::kUs03, "US-03", "Caching", "Combined hit rate", "≥ 70%", 0.70},
    {Story::kUs04, "US-04", "Compute", "Fargate spend reduction", "35–55%", 0.35},
    {Story::kUs05, "US-05", "DynamoDB", "DDB spend reduction", "40–60%", 0.40},
    {Story::kUs06, "US-06", "RAG", "RAG pipeline spend reduction", "30–50%", 0.30},
    {Story::kUs07, "US-07", "Analytics", "Analytics spend reduction", "40–60%", 0.40},
    {Story::kUs08, "US-08", "Traffic-Based", "Daily Bedrock spend cap respected", "100%", 1.00},
}};

// Sums of one slice, gathered in one pass over the rollups.
struct SliceSums {
  int64_t requests = 0;
  int64_t cache_hits = 0;  // requests answered by route cache or semantic_cache
  std::array<Money, kCostComponentCount> cost{};
  std::array<Money, kCostComponentCount> baseline_cost{};
  Money actual;
  Money baseline;
  std::array<Money, kStoryCount> savings{};
  std::vector<ModelKpi> models;

  void Add(const HourlyRollup& r) {
    requests += r.requests;
    if (r.route == core::Route::kCache || r.route == core::Route::kSemanticCache) {
      cache_hits += r.requests;
    }
    for (size_t c = 0; c < kCostComponentCount; ++c) {
      cost[c] += r.cost[c];
      baseline_cost[c] += r.baseline_cost[c];
    }
    actual += r.Total();
    baseline += r.baseline;
    for (size_t s = 0; s < kStoryCount; ++s) savings[s] += r.savings[s];
    auto it = std::find_if(models.begin(), models.end(),
                           [&r](const ModelKpi& m) { return m.model == r.model; });
    if (it == models.end()) {
      models.push_back(ModelKpi{r.model, 0, Money(), Money()});
      it = models.end() - 1;
    }
    it->requests += r.requests;
    it->actual += r.Total();
    it->baseline += r.baseline;
  }

  Money Lines(const std::array<Money, kCostComponentCount>& by_component,
              std::initializer_list<CostComponent> components) const {
    Money sum;
    for (CostComponent c : components) sum += by_component[static_cast<size_t>(c)];
    return sum;
  }
};

// 1 − actual / baseline; baseline must be non-zero.
double Reduction(Money actual, Money baseline) {
  return 1.0 - static_cast<double>(actual.nanos()) / static_cast<double>(baseline.nanos());
}

void Judge(StoryKpi* k, double value) {
  k->value = value;
  k->status = value >= k->target_low ? KpiStatus::kOnTrack : KpiStatus::kOffTrack;
}

// A spend-reduction story over `components`, once its stage is known to exist.
void SpendReduction(const SliceSums& s, std::initializer_list<CostComponent> components,
                    StoryKpi* k) {
  k->baseline = s.Lines(s.baseline_cost, components);
  k->actual = s.Lines(s.cost, components);
  if (k->baseline == Money::Zero()) {
    k->note = "no baseline cost in the window";
    return;
  }
  Judge(k, Reduction(k->actual, k->baseline));
}

bool HasStage(const std::vector<std::string>& stages, std::string_view name) {
  return std::find(stages.begin(), stages.end(), name) != stages.end();
}

std::string MissingStage(std::string_view stage) {
  return absl::StrCat("stage `", std::string(stage), "` is not in the pipeline");
}

std::string IntentNote(const IntentKpiInputs& in) {
  std::string note = absl::StrFormat(
      "in-process classifier %s: precision at threshold %.3f on dev (threshold %.2f, coverage "
      "%.1f%%), %d of %d classes at or above the 0.92 floor",
      in.version, in.precision_at_threshold, in.threshold, 100 * in.coverage, in.trusted_classes,
      in.classes);
  if (in.drift_intent_psi.has_value() || in.drift_lang_psi.has_value()) {
    absl::StrAppend(&note, absl::StrFormat("; drift PSI intent %.3f, lang %.3f (alert > 0.2)",
                                           in.drift_intent_psi.value_or(0),
                                           in.drift_lang_psi.value_or(0)));
  }
  return note;
}

StoryKpi ComputeStory(const StoryDef& def, const SliceSums& s,
                      const std::vector<std::string>& stages, const IntentKpiInputs* intent) {
  StoryKpi k;
  k.story = def.story;
  k.id = def.id;
  k.title = def.title;
  k.metric = def.metric;
  k.target = def.target;
  k.target_low = def.target_low;
  k.savings = s.savings[static_cast<size_t>(def.story)];
  switch (def.story) {
    case Story::kUs01:
      if (!HasStage(stages, "call") && !HasStage(stages, "respond")) {
        k.note = "stages `call` and `respond` are not in the pipeline";
        break;
      }
      SpendReduction(s,
                     {CostComponent::kLlmInput, CostComponent::kLlmOutput,
                      CostComponent::kLlmCacheRead, CostComponent::kLlmCacheWrite},
                     &k);
      break;
    case Story::kUs02:
      if (!HasStage(stages, "intent")) {
        k.note = MissingStage("intent");
        break;
      }
      if (intent == nullptr) {
        k.note =
            "the classifier's figures were not given (intent inference is not a cost line; the "
            "baseline's SageMaker share is only in savings)";
        break;
      }
      k.baseline = Money::FromNanos(intent->baseline_per_request.nanos() * s.requests);
      k.actual = Money::FromNanos(static_cast<int64_t>(
          (static_cast<__int128>(intent->actual_per_million.nanos()) * s.requests + 500'000) /
          1'000'000));
      k.note = IntentNote(*intent);
      if (k.baseline == Money::Zero()) break;
      Judge(&k, Reduction(k.actual, k.baseline));
      break;
    case Story::kUs03:
      k.baseline = s.Lines(s.baseline_cost, {CostComponent::kCacheOps});
      k.actual = s.Lines(s.cost, {CostComponent::kCacheOps});
      if (!HasStage(stages, "cache")) {
        k.note = MissingStage("cache");
        break;
      }
      if (s.requests == 0) {
        k.note = "no requests in the window";
        break;
      }
      Judge(&k, static_cast<double>(s.cache_hits) / static_cast<double>(s.requests));
      k.note = absl::StrCat(s.cache_hits, " of ", s.requests, " requests answered from cache");
      break;
    case Story::kUs04:
      if (!HasStage(stages, "capacity")) {
        k.note = "compute is not metered per request yet (stage `capacity` is not in the pipeline)";
        break;
      }
      SpendReduction(s, {CostComponent::kCompute}, &k);
      break;
    case Story::kUs05:
      if (!HasStage(stages, "session")) {
        k.note = MissingStage("session");
        break;
      }
      SpendReduction(s, {CostComponent::kSessionStore}, &k);
      break;
    case Story::kUs06:
      if (!HasStage(stages, "rag")) {
        k.note = MissingStage("rag");
        break;
      }
      SpendReduction(s, {CostComponent::kEmbedding, CostComponent::kVectorSearch}, &k);
      break;
    case Story::kUs07:
      if (!HasStage(stages, "record")) {
        k.note = MissingStage("record");
        break;
      }
      if (s.Lines(s.cost, {CostComponent::kAnalytics}) == Money::Zero()) {
        k.baseline = s.Lines(s.baseline_cost, {CostComponent::kAnalytics});
        k.note = "this pipeline's own analytics cost is not metered yet";
        break;
      }
      SpendReduction(s, {CostComponent::kAnalytics}, &k);
      break;
    case Story::kUs08:
      if (!HasStage(stages, "reserve")) {
        k.note = MissingStage("reserve");
        break;
      }
      k.note = "the daily cap is not in the rollups: GET /admin/budget shows today's, and "
               "`mangaassist replay` measures it per day";
      break;
    case Story::kCount:
      break;
  }
  return k;
}

SliceKpi ComputeSlice(std::string name, const SliceSums& s,
                      const std::vector<std::string>& stages, const IntentKpiInputs* intent) {
  SliceKpi slice;
  slice.name = std::move(name);
  slice.requests = s.requests;
  slice.actual = s.actual;
  slice.baseline = s.baseline;
  // Overall reduction over the metered lines only: the LLM lines (priced per call) and any
  // line with a non-zero actual in the window. Comparing the whole baseline (compute, DynamoDB,
  // embeddings, analytics…) with an actual that does not meter those yet would overstate it.
  Money metered_actual, metered_baseline;
  for (size_t c = 0; c < kCostComponentCount; ++c) {
    const auto component = static_cast<core::CostComponent>(c);
    const bool llm = component == core::CostComponent::kLlmInput ||
                     component == core::CostComponent::kLlmOutput ||
                     component == core::CostComponent::kLlmCacheRead ||
                     component == core::CostComponent::kLlmCacheWrite;
    if (!llm && s.cost[c] == Money::Zero()) continue;
    metered_actual += s.cost[c];
    metered_baseline += s.baseline_cost[c];
  }
  slice.metered_actual = metered_actual;
  slice.metered_baseline = metered_baseline;
  if (metered_baseline != Money::Zero()) {
    slice.reduction = Reduction(metered_actual, metered_baseline);
  }
  for (size_t i = 0; i < kStoryCount; ++i) slice.stories[i] = ComputeStory(kStories[i], s, stages, intent);
  slice.models = s.models;
  std::sort(slice.models.begin(), slice.models.end(), [](const ModelKpi& a, const ModelKpi& b) {
    if (a.actual != b.actual) return a.actual > b.actual;
    return a.model < b.model;
  });
  return slice;
}

// ---- rendering --------------------------------------------------------------------------------

std::string FormatTime(int64_t ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

std::string FormatRatio(const std::optional<double>& v) {
  if (!v.has_value()) return "—";
  return absl::StrFormat("%.1f%%", *v * 100.0);
}

std::string ModelName(const std::string& model) { return model.empty() ? "(none)" : model; }

// The "Baseline" column: money for the spend stories, the seed's 0% for the hit rate, a dash
// where nothing was measured.
std::string BaselineCell(const StoryKpi& k) {
  if (k.story == Story::kUs03) return "0% hit rate";
  if (k.status == KpiStatus::kNoData && k.baseline == Money::Zero()) return "—";
  return FormatUsd(k.baseline);
}

// Display width of UTF-8 text in a monospace terminal: one column per code point (the report's
// own strings hold no wide characters).
size_t Width(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

void AppendPadded(std::string* out, std::string_view cell, size_t width) {
  out->append(cell);
  out->append(width - std::min(width, Width(cell)), ' ');
}

std::string SliceHeader(const SliceKpi& s) {
  return absl::StrCat("requests ", s.requests, ", actual ", FormatUsd(s.actual), ", baseline ",
                      FormatUsd(s.baseline), "; reduction on metered lines ",
                      FormatRatio(s.reduction), " (", FormatUsd(s.metered_actual), " vs ",
                      FormatUsd(s.metered_baseline), ")");
}

std::string StagesText(const std::vector<std::string>& stages) {
  std::string out;
  for (const std::string& st : stages) absl::StrAppend(&out, out.empty() ? "" : ", ", st);
  return out.empty() ? "(none)" : out;
}

nlohmann::json MoneyJson(nlohmann::json j, const char* name, Money m) {
  j[absl::StrCat(name, "_nanos")] = m.nanos();
  j[absl::StrCat(name, "_usd")] = m.ToUsdString();
  return j;
}

// Horizontal bars, baseline over actual, one pair per slice, scaled to the largest amount.
std::string SvgChart(const KpiReport& report) {
  constexpr int kLabel = 70, kBarMax = 420, kBar = 14, kGroup = 44, kTop = 24;
  int64_t max_nanos = 1;
  for (const SliceKpi& s : report.slices) {
    max_nanos = std::max({max_nanos, s.baseline.nanos(), s.actual.nanos()});
  }
  // Bar length in pixels: an integer ratio of money, so no floating point touches it.
  auto len = [&](Money m) {
    return static_cast<int>(static_cast<__int128>(std::max<int64_t>(0, m.nanos())) * kBarMax /
                            max_nanos);
  };
  const int height = kTop + kGroup * static_cast<int>(report.slices.size()) + 8;
  const int width = kLabel + kBarMax + 130;
  std::string svg = absl::StrFormat(
      "<svg width=\"%d\" height=\"%d\" role=\"img\" "
      "aria-label=\"Baseline vs actual spend per slice\">\n"
      "<rect x=\"%d\" y=\"4\" width=\"12\" height=\"10\" class=\"b\"/>"
      "<text x=\"%d\" y=\"13\">baseline</text>"
      "<rect x=\"%d\" y=\"4\" width=\"12\" height=\"10\" class=\"a\"/>"
      "<text x=\"%d\" y=\"13\">actual</text>\n",
      width, height, kLabel, kLabel + 16, kLabel + 90, kLabel + 106);
  int y = kTop;
  for (const SliceKpi& s : report.slices) {
    absl::StrAppendFormat(&svg, "<text x=\"0\" y=\"%d\">%s</text>\n", y + kBar + 4,
                          HtmlEscape(s.name));
    absl::StrAppendFormat(&svg,
                          "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"b\"/>"
                          "<text x=\"%d\" y=\"%d\">%s</text>\n",
                          kLabel, y, len(s.baseline), kBar, kLabel + len(s.baseline) + 4,
                          y + kBar - 3, HtmlEscape(FormatUsd(s.baseline)));
    absl::StrAppendFormat(&svg,
                          "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"a\"/>"
                          "<text x=\"%d\" y=\"%d\">%s</text>\n",
                          kLabel, y + kBar + 2, len(s.actual), kBar, kLabel + len(s.actual) + 4,
                          y + 2 * kBar - 1, HtmlEscape(FormatUsd(s.actual)));
    y += kGroup;
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace

std::string HtmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string_view KpiStatusName(KpiStatus status) {
  switch (status) {
    case KpiStatus::kOnTrack:
      return "on track";
    case KpiStatus::kOffTrack:
      return "off track";
    case KpiStatus::kNoData:
      break;
  }
  return "no data";
}

KpiReport ComputeKpi(const std::vector<HourlyRollup>& rollups,
                     const std::vector<std::string>& stages, int64_t from_ms, int64_t to_ms,
                     const IntentKpiInputs* intent) {
  SliceSums all;
  std::array<SliceSums, core::kLangCount> by_lang;
  for (const HourlyRollup& r : rollups) {
    if (r.hour_start_ms < from_ms || r.hour_start_ms >= to_ms) continue;
    all.Add(r);
    by_lang[static_cast<size_t>(r.lang)].Add(r);
  }
  KpiReport report;
  report.from_ms = from_ms;
  report.to_ms = to_ms;
  report.stages = stages;
  if (intent != nullptr && HasStage(stages, "intent")) report.intent = *intent;
  report.slices.push_back(ComputeSlice("all", all, stages, intent));
  for (int l = 0; l < core::kLangCount; ++l) {
    report.slices.push_back(ComputeSlice(std::string(core::LangName(static_cast<core::Lang>(l))),
                                         by_lang[static_cast<size_t>(l)], stages, intent));
  }
  return report;
}

std::string FormatUsd(Money m) {
  // Round half away from zero to micro-USD, then print 6 decimals and trim zeros down to 2.
  const int64_t n = m.nanos();
  const int64_t micros = n >= 0 ? (n + 500) / 1000 : (n - 500) / 1000;  // '/' truncates
  const int64_t abs_micros = micros < 0 ? -micros : micros;
  std::string digits = absl::StrFormat("%d.%06d", abs_micros / 1'000'000, abs_micros % 1'000'000);
  size_t keep = digits.size();
  const size_t min_keep = digits.find('.') + 3;
  while (keep > min_keep && digits[keep - 1] == '0') --keep;
  digits.resize(keep);
  return absl::StrCat(micros < 0 ? "-$" : "$", digits);
}

std::string KpiText(const KpiReport& report) {
  std::string out = absl::StrCat("Unified KPI Rollup, ", FormatTime(report.from_ms), " to ",
                                 FormatTime(report.to_ms), " (hours starting in the window)\n",
                                 "Pipeline: ", StagesText(report.stages), "\n");
  static constexpr std::array<const char*, 6> kHeads = {"Story",    "Headline metric", "Target",
                                                        "Baseline", "Value",           "Status"};
  for (const SliceKpi& s : report.slices) {
    std::vector<std::array<std::string, 6>> rows;
    rows.push_back({kHeads[0], kHeads[1], kHeads[2], kHeads[3], kHeads[4], kHeads[5]});
    for (const StoryKpi& k : s.stories) {
      rows.push_back({absl::StrCat(k.id, " ", k.title), k.metric, k.target, BaselineCell(k),
                      FormatRatio(k.value), std::string(KpiStatusName(k.status))});
    }
    std::array<size_t, 6> width{};
    for (const auto& row : rows) {
      for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], Width(row[c]));
    }
    absl::StrAppend(&out, "\n[", s.name, "] ", SliceHeader(s), "\n");
    for (size_t r = 0; r < rows.size(); ++r) {
      std::string line;
      for (size_t c = 0; c < rows[r].size(); ++c) {
        if (c > 0) line += "  ";
        AppendPadded(&line, rows[r][c], width[c]);
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      absl::StrAppend(&out, line, "\n");
      if (r == 0) {
        size_t total = 0;
        for (size_t w : width) total += w;
        absl::StrAppend(&out, std::string(total + 2 * (width.size() - 1), '-'), "\n");
      }
    }
    for (const StoryKpi& k : s.stories) {
      if (k.status == KpiStatus::kNoData || (k.story == Story::kUs02 && s.name == "all")) {
        absl::StrAppend(&out, "  ", k.id, ": ", k.note, "\n");
      }
    }
    if (s.name == "all" && !s.models.empty()) {
      absl::StrAppend(&out, "  by model:");
      for (const ModelKpi& m : s.models) {
        absl::StrAppend(&out, " ", ModelName(m.model), " ", m.requests, " req ",
                        FormatUsd(m.actual), ";");
      }
      out.back() = '\n';
    }
  }
  return out;
}

std::string KpiJson(const KpiReport& report) {
  nlohmann::json j;
  j["from_ms"] = report.from_ms;
  j["to_ms"] = report.to_ms;
  j["from"] = FormatTime(report.from_ms);
  j["to"] = FormatTime(report.to_ms);
  j["stages"] = report.stages;
  j["slices"] = nlohmann::json::array();
  for (const SliceKpi& s : report.slices) {
    nlohmann::json js;
    js["name"] = s.name;
    js["requests"] = s.requests;
    js = MoneyJson(std::move(js), "actual", s.actual);
    js = MoneyJson(std::move(js), "baseline", s.baseline);
    js = MoneyJson(std::move(js), "metered_actual", s.metered_actual);
    js = MoneyJson(std::move(js), "metered_baseline", s.metered_baseline);
    js["reduction"] = s.reduction.has_value() ? nlohmann::json(*s.reduction) : nlohmann::json();
    js["stories"] = nlohmann::json::array();
    for (const StoryKpi& k : s.stories) {
      nlohmann::json jk;
      jk["story"] = k.id;
      jk["title"] = k.title;
      jk["metric"] = k.metric;
      jk["target"] = k.target;
      jk["target_low"] = k.target_low;
      jk["status"] = k.status == KpiStatus::kOnTrack    ? "on_track"
                     : k.status == KpiStatus::kOffTrack ? "off_track"
                                                        : "no_data";
      jk["value"] = k.value.has_value() ? nlohmann::json(*k.value) : nlohmann::json();
      jk = MoneyJson(std::move(jk), "baseline", k.baseline);
      jk = MoneyJson(std::move(jk), "actual", k.actual);
      jk = MoneyJson(std::move(jk), "savings", k.savings);
      jk["note"] = k.note;
      js["stories"].push_back(std::move(jk));
    }
    js["models"] = nlohmann::json::array();
    for (const ModelKpi& m : s.models) {
      nlohmann::json jm;
      jm["model"] = m.model;
      jm["requests"] = m.requests;
      jm = MoneyJson(std::move(jm), "actual", m.actual);
      jm = MoneyJson(std::move(jm), "baseline", m.baseline);
      js["models"].push_back(std::move(jm));
    }
    j["slices"].push_back(std::move(js));
  }
  if (report.intent.has_value()) {
    const IntentKpiInputs& in = *report.intent;
    nlohmann::json ji;
    ji["version"] = in.version;
    ji["threshold"] = in.threshold;
    ji["precision_at_threshold"] = in.precision_at_threshold;
    ji["coverage"] = in.coverage;
    ji["classes"] = in.classes;
    ji["trusted_classes"] = in.trusted_classes;
    ji = MoneyJson(std::move(ji), "baseline_per_request", in.baseline_per_request);
    ji = MoneyJson(std::move(ji), "actual_per_million", in.actual_per_million);
    ji["drift_intent_psi"] =
        in.drift_intent_psi.has_value() ? nlohmann::json(*in.drift_intent_psi) : nlohmann::json();
    ji["drift_lang_psi"] =
        in.drift_lang_psi.has_value() ? nlohmann::json(*in.drift_lang_psi) : nlohmann::json();
    ji["drift_alert_psi"] = 0.2;
    j["intent"] = std::move(ji);
  }
  // Model names are client-influenced bytes; replace invalid UTF-8 rather than throw.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string KpiHtml(const KpiReport& report) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>MangaAssist Unified KPI Rollup</title>\n<style>\n"
      "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\n"
      "table{border-collapse:collapse;margin:0.5em 0 1.5em}\n"
      "th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}\n"
      "th{background:#f3f3f3}td.num{text-align:right}\n"
      ".on{color:#1a7f37;font-weight:bold}.off{color:#c62828;font-weight:bold}"
      ".none{color:#888}\n"
      "svg text{font-size:12px;fill:#222}svg .b{fill:#9e9e9e}svg .a{fill:#1976d2}\n"
      "p.meta{color:#555}\n"
      "</style>\n</head>\n<body>\n<h1>Unified KPI Rollup</h1>\n";
  absl::StrAppend(
      &out, "<p class=\"meta\">Window ", HtmlEscape(FormatTime(report.from_ms)), " to ",
      HtmlEscape(FormatTime(report.to_ms)),
      " (hours starting in the window). Pipeline: ", HtmlEscape(StagesText(report.stages)),
      ".</p>\n<h2>Baseline vs actual spend</h2>\n", SvgChart(report));
  for (const SliceKpi& s : report.slices) {
    absl::StrAppend(&out, "<h2>Slice: ", HtmlEscape(s.name), "</h2>\n<p class=\"meta\">",
                    HtmlEscape(SliceHeader(s)),
                    "</p>\n<table>\n<thead><tr><th>Story</th>"
                    "<th>Headline metric</th><th>Target</th><th>Baseline</th><th>Actual</th>"
                    "<th>Savings</th><th>Value</th><th>Status</th><th>Note</th></tr></thead>\n"
                    "<tbody>\n");
    for (const StoryKpi& k : s.stories) {
      const char* cls = k.status == KpiStatus::kOnTrack    ? "on"
                        : k.status == KpiStatus::kOffTrack ? "off"
                                                           : "none";
      absl::StrAppend(
          &out, "<tr><td>", HtmlEscape(k.id), " ", HtmlEscape(k.title), "</td><td>",
          HtmlEscape(k.metric), "</td><td>", HtmlEscape(k.target), "</td><td class=\"num\">",
          HtmlEscape(BaselineCell(k)), "</td><td class=\"num\">", HtmlEscape(FormatUsd(k.actual)),
          "</td><td class=\"num\">", HtmlEscape(FormatUsd(k.savings)), "</td><td class=\"num\">",
          HtmlEscape(FormatRatio(k.value)), "</td><td class=\"", cls, "\">",
          HtmlEscape(KpiStatusName(k.status)), "</td><td>", HtmlEscape(k.note), "</td></tr>\n");
    }
    absl::StrAppend(&out, "</tbody>\n</table>\n");
    if (!s.models.empty()) {
      absl::StrAppend(&out,
                      "<table>\n<thead><tr><th>Model</th><th>Requests</th><th>Actual</th>"
                      "<th>Baseline</th></tr></thead>\n<tbody>\n");
      for (const ModelKpi& m : s.models) {
        absl::StrAppend(&out, "<tr><td>", HtmlEscape(ModelName(m.model)), "</td><td class=\"num\">",
                        m.requests, "</td><td class=\"num\">", HtmlEscape(FormatUsd(m.actual)),
                        "</td><td class=\"num\">", HtmlEscape(FormatUsd(m.baseline)),
                        "</td></tr>\n");
      }
      absl::StrAppend(&out, "</tbody>\n</table>\n");
    }
  }
  out += "</body>\n</html>\n";
  return out;
}

}  // namespace mangaassist::telemetry
