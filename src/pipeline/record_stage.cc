// The `record` stage (SPEC §2, stage 12, US-07): emits the request's cost event — cost lines,
// the counterfactual baseline and per-story savings — into the durable spool. It runs after
// failures too (RunPolicy::kAlways), so a call that failed or a client that left mid-stream is
// still accounted. A refused event (spool quota, disk) does not fail the request: the answer
// stands and the money is already spent; the recorder counts it, logs it and turns /readyz
// degraded.

#include "core/strings.h"
#include "llm/token_estimator.h"
#include "pipeline/stage_registry.h"
#include "telemetry/baseline.h"
#include "telemetry/event_builder.h"
#include "telemetry/recorder.h"

namespace mangaassist::pipeline {
namespace {

class RecordStage final : public SyncStage {
 public:
  RecordStage(telemetry::Recorder* recorder, const telemetry::IdHasher* hasher,
              const telemetry::Baseline* baseline, const llm::TokenEstimator* estimator,
              core::Money own_cost)
      : recorder_(recorder), own_cost_(own_cost) {
    auto options = std::make_shared<telemetry::EventBuilderOptions>();
    options->hasher = hasher;
    options->baseline = baseline;
    options->count_tokens = [estimator](std::string_view text, core::Lang lang) {
      return estimator->Estimate(text, lang);
    };
    options_ = std::move(options);
  }
  std::string_view name() const override { return "record"; }
  RunPolicy policy() const override { return RunPolicy::kAlways; }

  absl::Status RunSync(core::RequestContext& ctx) override {
    // The event's own cost: this pipeline's analytics line (US-07 actual).
    ctx.cost.Add(core::CostComponent::kAnalytics, own_cost_);
    // The request thread copies what the event needs and computes the baseline the native
    // response shows (cost.baseline_usd); the spool's writer thread does the rest (id hashes,
    // savings) before encoding. A refusal is counted and alarmed by the recorder.
    telemetry::CostEventCapture capture = telemetry::CaptureCostEvent(ctx);
    if (const telemetry::BaselineCost* b = telemetry::ComputeCapturedBaseline(capture, *options_)) {
      ctx.baseline = b->total;
    }
    (void)recorder_->Record(std::move(capture), options_);
    return absl::OkStatus();
  }

 private:
  telemetry::Recorder* const recorder_;
  const core::Money own_cost_;
  // Built once; read-only across requests; shared with the records still in the spool.
  std::shared_ptr<const telemetry::EventBuilderOptions> options_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Stage>> MakeRecordStage(Services* services) {
  if (services->recorder == nullptr) {
    return absl::FailedPreconditionError(
        "telemetry is off (telemetry.enabled: false); enable it or drop the stage");
  }
  const core::TelemetryConfig& t = services->config->telemetry;
  absl::StatusOr<core::Money> own_cost = telemetry::OwnAnalyticsCostPerEvent(
      *services->prices, services->baseline->params().region, t.own_cpu_us_per_event,
      static_cast<int64_t>(t.own_stored_bytes_per_event), t.retention_days);
  if (!own_cost.ok()) return own_cost.status();
  return std::make_unique<RecordStage>(services->recorder.get(), services->id_hasher.get(),
                                       services->baseline.get(), services->token_estimator.get(),
                                       *own_cost);
}

}  // namespace mangaassist::pipeline
