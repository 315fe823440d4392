// US-02's figures for the Unified KPI Rollup (telemetry::IntentKpiInputs): the always-on
// SageMaker endpoint's share per request from config/baseline.yaml, against what the in-process
// classifier costs — its measured CPU per classification (intent.cpu_ns_per_classification,
// intent_benchmark) priced as Fargate x86 vCPU time, plus its model's resident memory priced as
// Fargate GB-hours and amortized over the baseline's traffic — with the region's compute uplift;
// and the precision, coverage and drift of the classifier. Pure functions; thread-safe.
#pragma once

#include <optional>

#include "absl/status/statusor.h"
#include "core/config.h"
#include "core/pricing.h"
#include "intent/classifier.h"
#include "intent/drift.h"
#include "telemetry/baseline.h"
#include "telemetry/kpi.h"

namespace mangaassist::pipeline {

// `drift` may be null (an offline report has no live windows).
absl::StatusOr<telemetry::IntentKpiInputs> IntentKpiInputsFor(const core::Config& config,
                                                              const intent::Classifier& classifier,
                                                              const intent::DriftMonitor* drift,
                                                              const telemetry::Baseline& baseline,
                                                              const core::PriceTable& prices);

// For `mangaassist report`: loads the prices, the baseline and the classifier the config names.
// nullopt when the config's pipeline has no `intent` stage.
absl::StatusOr<std::optional<telemetry::IntentKpiInputs>> LoadIntentKpiInputs(
    const core::Config& config);

}  // namespace mangaassist::pipeline
