// Baseline: the counterfactual "before optimization" pipeline of SPEC §5 (config/baseline.yaml),
// priced per message in integer nano-USD, and the rule that attributes the difference between
// the baseline and the actual cost of a request to the eight stories (docs/events.md).
// A Baseline is immutable after LoadBaseline() and safe to share between threads.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/language.h"
#include "core/pricing.h"
#include "core/rough_tokens.h"
#include "core/request_context.h"
#include "telemetry/event.h"

namespace mangaassist::telemetry {

// What the baseline needs to know about one message.
struct BaselineInput {
  int64_t message_tokens = 0;  // the user's message (calibrated estimator or RoughTokenCount)
  int64_t history_turns = 0;   // messages (user or assistant) before this one in the session
  std::string_view intent;     // empty when unknown: the default output length applies
  core::Lang lang = core::Lang::kEn;
};

// The baseline's cost of one message: per-component lines (core::CostComponent) and how they
// were made, so savings can be attributed.
struct BaselineCost {
  core::CostLines lines;
  core::Money total;
  // Prompt composition of the baseline's LLM call (tokens), and its answer length.
  int64_t system_tokens = 0;
  int64_t history_tokens = 0;
  int64_t rag_tokens = 0;
  int64_t message_tokens = 0;
  int64_t input_tokens = 0;  // the sum above, capped at the context window
  int64_t output_tokens = 0;
  // The always-on SageMaker intent endpoint's share; part of lines[kCompute].
  core::Money intent_inference;
};

using core::RoughTokenCount;  // for when no calibrated estimator is at hand

class Baseline {
 public:
  // Per-request parameters resolved from config/baseline.yaml and the price table (documented
  // there and in docs/events.md).
  struct Params {
    std::string model;  // price entry of the baseline LLM
    int64_t system_prompt_tokens = 0;
    int64_t tokens_per_history_turn = 0;
    int64_t rag_top_k = 0;
    int64_t tokens_per_chunk = 0;
    int64_t context_window_tokens = 0;
    int64_t max_tokens = 0;
    int64_t default_output_tokens = 0;
    std::map<std::string, int64_t, std::less<>> output_tokens_by_intent;
    // DynamoDB transcript store.
    int64_t ddb_items_written = 0;
    int64_t ddb_item_bytes = 0;
    bool ddb_transactional = false;
    bool ddb_strongly_consistent = true;
    int64_t ddb_storage_months = 0;
    // Kinesis event.
    int64_t event_bytes = 0;
    int64_t requests_per_hour = 0;
    std::string region;
  };

  const Params& params() const { return params_; }

  // The baseline cost of one message. Cheap: a map lookup and a few integer products.
  BaselineCost CostOf(const BaselineInput& in) const;

  // `usage` priced at the baseline model with every prompt token at the input rate (no prompt
  // cache), with the baseline's regional uplift: what the actual prompt and answer would have
  // cost on the baseline model. Used to split LLM savings into routing and token reduction.
  core::LlmCost AtBaselineModel(const core::TokenUsage& usage) const;

  // Fixed per-request amounts (amortized hourly prices), for documentation and tests.
  core::Money intent_per_request() const { return intent_per_request_; }
  core::Money compute_per_request() const { return compute_per_request_; }
  core::Money vector_search_per_request() const { return vector_search_per_request_; }
  core::Money analytics_per_request() const { return analytics_per_request_; }

 private:
  friend absl::StatusOr<Baseline> LoadBaselineString(const std::string&, const std::string&,
                                                     const core::PriceTable&);
  Params params_;
  core::ModelPrice model_price_;  // list price; uplift applied to each computed line
  int bedrock_uplift_ = 0, dynamodb_uplift_ = 0;                // percent, for params_.region
  core::Money embed_per_mtok_;                                  // Titan V2, with uplift
  core::Money ddb_per_mwru_, ddb_per_mrru_, ddb_per_gb_month_;  // with uplift
  core::Money intent_per_request_, compute_per_request_, vector_search_per_request_,
      analytics_per_request_;
};

// What this gateway's own cost telemetry costs per event: US-07's actual analytics line, set
// against the baseline's Kinesis + Firehose + Redshift line. Two parts, both measured on the
// running system rather than assumed: the process CPU the event pipeline spends per event
// (`cpu_us_per_event`, recorder_benchmark's process_us_per_event), priced as Fargate x86 vCPU
// time; and the bytes kept per event (`stored_bytes_per_event`: raw row, indexes and rollups,
// events.db size / rows) for `retention_days`, priced as EBS gp3 storage (30-day months). The
// region's compute uplift applies. Money is rounded half away from zero once per part.
absl::StatusOr<core::Money> OwnAnalyticsCostPerEvent(const core::PriceTable& prices,
                                                     const std::string& region,
                                                     int64_t cpu_us_per_event,
                                                     int64_t stored_bytes_per_event,
                                                     int64_t retention_days);

// Loads config/baseline.yaml. Unknown keys, missing keys and bad values fail with
// "file:line: key: problem"; every price it names must exist in `prices`.
absl::StatusOr<Baseline> LoadBaseline(const std::string& path, const core::PriceTable& prices);
absl::StatusOr<Baseline> LoadBaselineString(const std::string& yaml, const std::string& source,
                                            const core::PriceTable& prices);

// What the attribution needs beyond the cost lines.
struct SavingsInput {
  // Baseline::AtBaselineModel(actual usage): splits LLM savings into routing (model tier,
  // prompt cache) and token reduction (history, RAG, prompt, answer length).
  core::LlmCost actual_at_baseline_model;
  int degraded_level = 0;  // > 0: routing savings were forced by US-08's degradation ladder
};

// Attributes baseline.total - actual.Total() to the stories by the rule of docs/events.md
// ("Savings attribution"). The result always sums exactly to that difference; an entry is
// negative when the story's part cost more than the baseline's (e.g. US-03's cache operations,
// which the baseline does not have).
std::array<core::Money, kStoryCount> AttributeSavings(const BaselineCost& baseline,
                                                      const core::CostLines& actual,
                                                      core::Route route, const SavingsInput& in);

}  // namespace mangaassist::telemetry
