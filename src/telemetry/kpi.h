// The seed's Unified KPI Rollup (US-07) computed from stored hourly rollups: per story the
// headline metric, its target, the baseline, the measured value and a status, for all traffic
// and split by language (en / ja / mixed), plus text, JSON and HTML renderings.
// Pure functions of their inputs; thread-safe.
//
// A story whose pipeline stage does not exist, or whose numbers are not metered, reports
// "no data" with a note saying why; it never shows a made-up number. The rules, per slice
// (Σ over the slice's rollups; "baseline[c]" is HourlyRollup::baseline_cost, "actual[c]" is
// HourlyRollup::cost, c a core::CostComponent):
//
//   US-01 LLM Tokens, Bedrock spend reduction 40–60%: needs stage `call` or `respond`.
//         baseline = Σ baseline[llm_input, llm_output, llm_cache_read, llm_cache_write],
//         actual = Σ actual[same]; value = 1 − actual / baseline.
//   US-02 Intent Classifier, inference cost reduction 50–70%: needs stage `intent` and the
//         classifier's figures (IntentKpiInputs: the rollups do not hold them). baseline =
//         requests × the always-on SageMaker endpoint's share per request (config/baseline.yaml
//         intent.instances × instance-hour / traffic.requests_per_hour); actual = requests × the
//         in-process classifier's measured cost (CPU per classification priced as Fargate vCPU
//         time, plus the model's resident memory amortized over the same traffic); value =
//         1 − actual / baseline. The note carries the precision at the threshold measured on
//         dev and the drift PSI (alert > 0.2).
//   US-03 Caching, combined hit rate ≥ 70%: needs stage `cache`. value = requests answered by
//         route `cache` or `semantic_cache` / requests. Its money lines are `cache_ops` (0 in the
//         baseline, which has no cache); its baseline hit rate is 0%.
//   US-04 Compute, Fargate spend reduction 35–55%: needs stage `capacity` (compute is not
//         metered per request before it); then like US-01 over `compute`.
//   US-05 DynamoDB, DDB spend reduction 40–60%: needs stage `session`; `session_store`.
//   US-06 RAG, RAG pipeline spend reduction 30–50%: needs stage `rag`; `embedding` +
//         `vector_search`.
//   US-07 Analytics, analytics spend reduction 40–60%: needs stage `record` and a non-zero
//         actual `analytics` line (with 0 the reduction would read 100%, which is only the
//         absence of metering, so: no data).
//   US-08 Traffic-Based, daily Bedrock spend cap respected 100%: needs stage `budget`. Even with
//         it: no data, since the daily cap is not recorded with the rollups yet.
//
// A spend-reduction story with a zero baseline is "no data". Status is "on track" when
// value ≥ target_low, else "off track". savings is Σ HourlyRollup::savings[story] whatever the
// status (so a story's negative savings stay visible). Ratios are doubles; money never is.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/language.h"
#include "core/money.h"
#include "telemetry/event.h"
#include "telemetry/sink.h"

namespace mangaassist::telemetry {

enum class KpiStatus { kOnTrack = 0, kOffTrack, kNoData };
// "on track" | "off track" | "no data".
std::string_view KpiStatusName(KpiStatus status);

struct StoryKpi {
  Story story = Story::kUs01;
  std::string id;         // "US-01"
  std::string title;      // "LLM Tokens"
  std::string metric;     // "Bedrock spend reduction"
  std::string target;     // "40–60%"
  double target_low = 0;  // the value at or above which the story is on track
  KpiStatus status = KpiStatus::kNoData;
  std::optional<double> value;  // a ratio in [.., 1]; absent with kNoData
  core::Money baseline;         // the story's baseline lines (see the file comment)
  core::Money actual;           // the same lines as actually paid
  core::Money savings;          // Σ savings attributed to the story
  std::string note;             // why there is no data, or how the value was made
};

// Spend and requests of one model within a slice ("" = no model answered).
struct ModelKpi {
  std::string model;
  int64_t requests = 0;
  core::Money actual;
  core::Money baseline;
};

struct SliceKpi {
  std::string name;  // "all" | "en" | "ja" | "mixed"
  int64_t requests = 0;
  core::Money actual;               // Σ HourlyRollup::Total()
  core::Money baseline;             // Σ HourlyRollup::baseline
  // 1 − actual / baseline over the metered lines (LLM lines, and any line with a non-zero
  // actual); absent when their baseline is 0. Unmetered lines would read as 100% saved.
  std::optional<double> reduction;
  core::Money metered_actual;
  core::Money metered_baseline;
  std::array<StoryKpi, kStoryCount> stories;
  std::vector<ModelKpi> models;  // by actual spend, largest first, then by name
};

// US-02's figures from the classifier and the baseline (pipeline/intent_kpi.h builds them).
struct IntentKpiInputs {
  core::Money baseline_per_request;   // the SageMaker endpoint's share of one request
  core::Money actual_per_million;     // in-process inference per 1,000,000 classifications
  std::string version;                // model version
  double threshold = 0;
  double precision_at_threshold = 0;  // measured on dev when the model was trained
  double coverage = 0;
  int classes = 0, trusted_classes = 0;  // classes at or above the 0.92 floor
  std::optional<double> drift_intent_psi, drift_lang_psi;  // the last judged window (live only)
};

struct KpiReport {
  int64_t from_ms = 0;  // window: rollup hours with from_ms <= hour_start_ms < to_ms
  int64_t to_ms = 0;
  std::vector<std::string> stages;  // the pipeline the report was judged against
  std::vector<SliceKpi> slices;     // "all", "en", "ja", "mixed" in that order
  std::optional<IntentKpiInputs> intent;  // US-02's classifier figures, when given
};

// Computes the report over the rollups whose hour starts in [from_ms, to_ms) (others are
// ignored), judging which stories have data by `stages` (config pipeline.stages).
KpiReport ComputeKpi(const std::vector<HourlyRollup>& rollups,
                     const std::vector<std::string>& stages, int64_t from_ms, int64_t to_ms,
                     const IntentKpiInputs* intent = nullptr);

// An aligned plain-text table per slice (Story | Headline metric | Target | Baseline | Value |
// Status) under a header with the window, requests, actual, baseline and overall reduction.
std::string KpiText(const KpiReport& report);
// JSON: money as integer `*_nanos` plus `*_usd` decimal strings; value null when no data.
std::string KpiJson(const KpiReport& report);
// A self-contained HTML page (inline CSS and SVG chart, no external assets); all text escaped.
std::string KpiHtml(const KpiReport& report);

// `s` safe inside HTML text and attribute values (& < > " ').
std::string HtmlEscape(std::string_view s);

// USD for people: "$0.0142", "$12.50" — rounded half away from zero to the micro-dollar, then
// trailing zeros dropped down to 2 decimals. Integer arithmetic only.
std::string FormatUsd(core::Money m);

}  // namespace mangaassist::telemetry
