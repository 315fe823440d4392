#include "pipeline/intent_kpi.h"

#include <algorithm>

namespace mangaassist::pipeline {
namespace {

int64_t DivRound(__int128 num, __int128 den) { return static_cast<int64_t>((num + den / 2) / den); }

}  // namespace

absl::StatusOr<telemetry::IntentKpiInputs> IntentKpiInputsFor(const core::Config& config,
                                                              const intent::Classifier& classifier,
                                                              const intent::DriftMonitor* drift,
                                                              const telemetry::Baseline& baseline,
                                                              const core::PriceTable& prices) {
  absl::StatusOr<core::Money> vcpu_hour = prices.Service("fargate", "x86_per_vcpu_hour");
  if (!vcpu_hour.ok()) return vcpu_hour.status();
  absl::StatusOr<core::Money> gb_hour = prices.Service("fargate", "x86_per_gb_hour");
  if (!gb_hour.ok()) return gb_hour.status();
  const intent::Model& model = classifier.model();
  telemetry::IntentKpiInputs in;
  in.baseline_per_request = baseline.intent_per_request();
  // CPU: ns per classification × 10^6 classifications, priced per vCPU-hour (3.6e12 ns).
  const int64_t cpu =
      DivRound(__int128{vcpu_hour->nanos()} *
                   std::max<int64_t>(config.intent.cpu_ns_per_classification, 0) * 1'000'000,
               __int128{3'600'000'000'000});
  // Memory: the dense weights stay resident in every replica; their GB-hours are shared by the
  // requests of that hour (the baseline's traffic.requests_per_hour).
  const __int128 model_bytes = (__int128{1} << model.feature_options().bucket_bits) *
                               static_cast<__int128>(model.labels().size()) * 4;
  const int64_t rph = std::max<int64_t>(baseline.params().requests_per_hour, 1);
  const int64_t memory =
      DivRound(__int128{gb_hour->nanos()} * model_bytes * 1'000'000, (__int128{1} << 30) * rph);
  in.actual_per_million =
      core::WithUplift(core::Money::FromNanos(cpu + memory),
                       prices.UpliftPercent(baseline.params().region, "compute"));
  in.version = classifier.version();
  in.threshold = classifier.threshold();
  in.precision_at_threshold = model.meta().dev_precision_at_threshold;
  in.coverage = model.meta().dev_coverage;
  in.classes = static_cast<int>(model.labels().size());
  for (const std::string& label : model.labels()) in.trusted_classes += classifier.Trusted(label);
  if (drift != nullptr) {
    intent::DriftSnapshot d = drift->Snapshot();
    in.drift_intent_psi = d.intent_psi;
    in.drift_lang_psi = d.lang_psi;
  }
  return in;
}

absl::StatusOr<std::optional<telemetry::IntentKpiInputs>> LoadIntentKpiInputs(
    const core::Config& config) {
  const auto& stages = config.pipeline.stages;
  if (std::find(stages.begin(), stages.end(), "intent") == stages.end()) return std::nullopt;
  auto prices = core::PriceTable::LoadFile(config.DataPath(config.pricing_file));
  if (!prices.ok()) return prices.status();
  auto baseline = telemetry::LoadBaseline(config.DataPath(config.telemetry.baseline_file), *prices);
  if (!baseline.ok()) return baseline.status();
  intent::ClassifierOptions o;
  o.threshold = config.intent.threshold;
  auto classifier = intent::Classifier::Load(config.DataPath(config.intent.model), o);
  if (!classifier.ok()) return classifier.status();
  auto in = IntentKpiInputsFor(config, **classifier, nullptr, *baseline, *prices);
  if (!in.ok()) return in.status();
  return std::optional<telemetry::IntentKpiInputs>(*std::move(in));
}

}  // namespace mangaassist::pipeline
