// Counterfactual replay (SPEC §6, the seed's offline testing): streams a trace through two
// instances of the same pipeline::Pipeline the server runs — the baseline (SPEC §5: every
// message to the most expensive model, no optimizations; config/replay-baseline.yaml) and the
// optimized config — message by message, in-process, each on its own core::ManualClock set
// from the line's timestamp, with every network provider replaced by the `simulated` one
// (answer lengths from the trace, latency advancing the virtual clock). The `record` stage is
// replaced by an in-memory collector (same BuildCostEvent, no spool), and the optimized run's
// events, with the baseline run's measured LLM cost as their baseline, feed the Unified KPI
// Rollup (telemetry/kpi.h) directly. Also measured: decision equivalence against a ground-truth
// route table, cache false hits by canonical_id, spend per Asia/Tokyo day against the daily
// cap, and the stress scenarios. The method is documented in docs/replay.md.
// A Replayer is single-use and not thread-safe. Memory does not grow with the trace, except
// for the cache false-hit map (one entry per answer filled while a `cache` stage is present).
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/config.h"
#include "core/money.h"
#include "core/request_context.h"
#include "telemetry/kpi.h"

namespace mangaassist::replay {

// Ground truth: the route each intent calls for (config/replay-routes.yaml).
struct RouteTable {
  std::map<std::string, core::Route, std::less<>> by_intent;
};
absl::StatusOr<RouteTable> LoadRouteTable(const std::string& path);

enum class Scenario { kNone, kBurst10x, kRunaway, kRedisOutage, kProviderBrownout };
// "burst10x" | "runaway" | "redis-outage" | "provider-brownout"; false when unknown.
bool ParseScenario(std::string_view name, Scenario* out);
std::string_view ScenarioName(Scenario s);

struct ReplayOptions {
  core::Config optimized;  // the gateway config under test
  core::Config baseline;   // the §5 baseline as a gateway config
  RouteTable routes;
  std::vector<std::string> disable;  // "US-01" … "US-08"
  Scenario scenario = Scenario::kNone;
  core::Money daily_cap = core::Money::FromNanos(5000 * core::Money::kNanosPerUsd);
  int brownout_permille = 300;
  bool strict = false;
};

// Per Asia/Tokyo day: the optimized run's LLM spend against the daily cap.
struct DayResult {
  std::string date;  // YYYY-MM-DD (Asia/Tokyo)
  int64_t messages = 0;
  core::Money baseline;  // metered lines (as ReplayResult::baseline)
  core::Money optimized;
  core::Money optimized_llm;  // what the cap is about (Bedrock spend)
};

struct LangResult {
  int64_t messages = 0;
  core::Money baseline;
  core::Money optimized;
};

struct ReplayResult {
  int64_t lines = 0;     // lines read (blank ones included)
  int64_t messages = 0;  // trace records replayed (each once, before scenario clones)
  int64_t requests = 0;  // pipeline requests per run (messages x clones)
  int64_t bad_lines = 0;
  std::vector<std::string> bad_line_errors;  // the first kMaxListedBadLines
  static constexpr size_t kMaxListedBadLines = 100;
  int64_t out_of_order = 0;  // lines whose ts is before the previous line's
  bool stopped_at_bad_line = false;

  std::vector<std::string> baseline_stages, optimized_stages;
  std::vector<std::string> notes;                // what --disable and the scenario changed, and why
  std::vector<std::string> simulated_providers;  // network providers replaced by `simulated`

  telemetry::KpiReport kpi;  // stories, by language, from the merged events
  core::Money baseline;      // Σ baseline over the metered lines
  core::Money optimized;     // Σ actual (every metered line)
  core::Money baseline_all;  // Σ full §5 baseline (unmetered components included)

  std::map<std::string, LangResult> by_lang;       // en / ja / mixed (detected by `normalize`)
  std::map<std::string, int64_t> routes;           // optimized run
  std::map<std::string, int64_t> baseline_routes;  // baseline run
  std::map<std::string, int64_t> failures;         // optimized run: status code name → requests
  std::map<std::string, int64_t> baseline_failures;

  // Quality guards.
  int64_t labelled = 0;  // messages whose ground-truth intent is in the route table
  int64_t equivalent = 0;
  std::optional<double> decision_equivalence;
  bool cache_stage = false;
  int64_t cache_hits_judged = 0;  // cached answers to messages with a canonical_id
  int64_t cache_false_hits = 0;
  std::optional<double> cache_false_hit_rate;
  int64_t lang_labelled = 0, lang_agreed = 0;
  // US-02: the optimized run's intent label against the trace's ground truth (labelled messages
  // that reached the intent stage): top-label agreement, and precision among the labels at or
  // above the threshold (not `uncertain`). Synthetic phrasebook text: a smoke check, not dev.
  int64_t intent_labelled = 0, intent_agreed = 0, intent_covered = 0, intent_covered_agreed = 0;

  // Brown-out and resilience (optimized run).
  int64_t llm_attempts = 0, retried_requests = 0, fallback_requests = 0;

  std::vector<DayResult> days;
  core::Money daily_cap;
  bool cap_enforced = false;  // a `budget` stage is in the optimized pipeline
  int64_t days_over_cap = 0;
  core::Money largest_overshoot;
  std::vector<std::pair<int64_t, core::Money>> hourly_llm;  // hour start (ms) → optimized LLM

  Scenario scenario = Scenario::kNone;
  std::string scenario_status;  // "ran" | "no data"
  std::string scenario_note;
};

class Replayer {
 public:
  static absl::StatusOr<std::unique_ptr<Replayer>> Create(ReplayOptions options);
  ~Replayer();

  // Called every few thousand lines with (lines read, bytes read).
  using Progress = std::function<void(int64_t lines, int64_t bytes)>;
  // Replays `trace` to its end (or, with strict, to the first bad line: FailedPrecondition
  // naming it). The result is complete either way.
  absl::Status Run(std::istream* trace, const Progress& progress);
  const ReplayResult& result() const;

 private:
  struct Impl;
  explicit Replayer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The report: the Unified KPI Rollup table with the replay's measurements around it.
std::string ReplayText(const ReplayResult& r);
// JSON with the keys of docs/replay.md; `elapsed_s` (wall time) is null when deterministic, so
// the same trace and configs give byte-identical output.
std::string ReplayJson(const ReplayResult& r, std::optional<double> elapsed_s);
// A self-contained page with inline SVG: spend over time against the daily cap, route mix,
// spend per language, and the KPI table.
std::string ReplayHtml(const ReplayResult& r);

}  // namespace mangaassist::replay
