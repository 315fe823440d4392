// The `reserve` and `settle` stages (US-08; SPEC §2 stages 10 and 12).
//
// `reserve` runs before any answering stage: it applies the cost breaker's level to this
// request (model tier floor, guests and level 3 without a model), sizes the call it would make
// (CallPlan: the alias, the calibrated prompt estimate plus budget.estimate_margin_percent, and
// max_tokens at the priciest model of the fallback chain), and takes every rate limit and a
// hold on every daily cap in one store call (control/traffic.h). A refused limit fails the
// request with 429; a cap that cannot take the hold lets the request through without a model.
//
// `settle` runs always (after failures too): the hold becomes the actual LLM cost, token
// limits are corrected to the tokens really used, and the ledger gets its row.
#include "control/flags.h"
#include "control/traffic.h"
#include "llm/token_estimator.h"
#include "pipeline/call_plan.h"
#include "pipeline/stage_registry.h"

namespace mangaassist::pipeline {
namespace {

// The flags this stage honours, resolved by the evaluator's precedence. The daily cap and the
// rate limits are the safety net, not an optimization: a flag source that cannot be read (the
// seed's safe defaults switch every *_optimization_enabled off) never switches them off; only
// a healthy source that says so does (us08_optimization_enabled or the technique flags).
control::TrafficFlags FlagsOf(const control::FlagSnapshot& f) {
  control::TrafficFlags t;
  t.degradation_active = f.degradation_active;
  t.breaker_enabled = f.BreakerEnabled();
  if (f.source_ok) {
    t.rate_limits_enabled = f.TechniqueEnabled(control::Story::kUS08, "rate_limits_enabled");
    t.budget_enabled = f.TechniqueEnabled(control::Story::kUS08, "budget_enabled");
  }
  return t;
}

class ReserveStage final : public SyncStage {
 public:
  explicit ReserveStage(Services* s) : services_(s), config_(*s->config) {}
  std::string_view name() const override { return "reserve"; }

  absl::Status RunSync(core::RequestContext& ctx) override {
    control::TrafficControl& traffic = *services_->traffic;
    const control::TrafficFlags flags = FlagsOf(*services_->flags->Current());
    traffic.Degrade(ctx, flags);
    std::string_view alias = config_.call.AliasFor(ctx.tier, ctx.requested_model);
    const llm::ModelEntry* entry = services_->models->Find(alias);
    if (entry != nullptr && ctx.traffic.tier_floor && entry->route == core::Route::kSonnet &&
        services_->models->Find(config_.budget.floor_model) != nullptr) {
      alias = config_.budget.floor_model;
      entry = services_->models->Find(alias);
    }
    core::Money amount;
    int64_t tokens = 0;
    if (entry != nullptr) {
      ctx.traffic.alias = std::string(alias);
      llm::LlmRequest request = BuildLlmRequest(config_.call, ctx, *entry);
      ctx.estimated_input_tokens = services_->token_estimator->EstimatePrompt(request, ctx.lang);
      const int64_t input =
          ctx.estimated_input_tokens * (100 + config_.budget.estimate_margin_percent) / 100;
      tokens = input + request.max_tokens;
      amount = MaxCallCost(config_, *services_->models, alias, input, request.max_tokens);
    }
    return traffic.Acquire(ctx, flags, amount, tokens);
  }

 private:
  Services* services_;
  const core::Config& config_;
};

class SettleStage final : public SyncStage {
 public:
  explicit SettleStage(control::TrafficControl* traffic) : traffic_(traffic) {}
  std::string_view name() const override { return "settle"; }
  RunPolicy policy() const override { return RunPolicy::kAlways; }

  absl::Status RunSync(core::RequestContext& ctx) override {
    traffic_->Settle(ctx);
    return absl::OkStatus();
  }

 private:
  control::TrafficControl* traffic_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Stage>> MakeReserveStage(Services* services) {
  if (services->traffic == nullptr || services->models == nullptr || services->flags == nullptr) {
    return absl::FailedPreconditionError("traffic control is not set up");
  }
  const auto& stages = services->config->pipeline.stages;
  auto reserve = std::find(stages.begin(), stages.end(), "reserve");
  auto settle = std::find(stages.begin(), stages.end(), "settle");
  if (settle == stages.end() || settle < reserve) {
    return absl::InvalidArgumentError(
        "needs a `settle` stage after it (holds must be settled; put it before `record`)");
  }
  return std::make_unique<ReserveStage>(services);
}

absl::StatusOr<std::unique_ptr<Stage>> MakeSettleStage(Services* services) {
  if (services->traffic == nullptr) {
    return absl::InvalidArgumentError("needs a `reserve` stage before it");
  }
  return std::make_unique<SettleStage>(services->traffic.get());
}

}  // namespace mangaassist::pipeline
