// Services: the long-lived components that stages share (catalog, responder, metrics, clock),
// created once at start-up from Config and owned here. Components are started in order and
// stopped in reverse. Read-only after Create(), except for components that are thread-safe
// themselves.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/metrics.h"

namespace mangaassist::rag {
class Catalog;
class CatalogOrigin;
class PromotionOrigin;
class PromotionSet;
class StoreLookup;
}  // namespace mangaassist::rag
namespace mangaassist::cache { class Cache; }
namespace mangaassist::llm {
class ExtractiveResponder;
class Models;
class Simulation;
class TokenEstimator;
}  // namespace mangaassist::llm
namespace mangaassist::core { class PriceTable; }
namespace mangaassist::control {
class AuditLog;
class FlagEvaluator;
class TrafficControl;
}  // namespace mangaassist::control
namespace mangaassist::intent {
class Classifier;
class DriftMonitor;
}  // namespace mangaassist::intent
namespace mangaassist::telemetry {
class Baseline;
class IdHasher;
class Recorder;
}  // namespace mangaassist::telemetry

namespace mangaassist::pipeline {

struct Services {
  const core::Config* config = nullptr;
  const core::Clock* clock = &core::SystemClock();
  core::Registry* metrics = nullptr;
  std::unique_ptr<rag::Catalog> catalog;
  // US-03: the shared cache tier (config.cache; in-process unless keyspaces name Redis), and the
  // read-through product:/reco:/promo: lookups over it that the responder's product,
  // recommendation and promotion answers use, with their origins (the catalog and
  // config.responder.promotions). Declared before the responder: destroyed after it.
  std::unique_ptr<cache::Cache> cache;
  std::unique_ptr<rag::PromotionSet> promotions;  // null when config.responder.promotions is ""
  std::unique_ptr<rag::CatalogOrigin> catalog_origin;
  std::unique_ptr<rag::PromotionOrigin> promotion_origin;
  std::unique_ptr<rag::StoreLookup> store_lookup;
  std::unique_ptr<llm::ExtractiveResponder> responder;
  std::unique_ptr<core::PriceTable> prices;  // config.pricing_file
  std::unique_ptr<llm::Models> models;       // providers and aliases (after responder, prices)
  std::unique_ptr<llm::TokenEstimator> token_estimator;  // pre-call prompt estimates
  // US-08: the hash-chained audit trail (config.audit; SQLite under var/ by default) and the
  // flag evaluator (config.flags) that resolves every kill switch. Stages read flags only
  // through `flags->Current()`. The audit log is created first and destroyed last.
  std::unique_ptr<control::AuditLog> audit;
  std::unique_ptr<control::FlagEvaluator> flags;  // audits into `audit`
  // US-02, when the pipeline has an `intent` stage: the classifier (config.intent.model) and the
  // drift monitor of its labels and languages.
  std::unique_ptr<intent::Classifier> intent;
  std::unique_ptr<intent::DriftMonitor> intent_drift;
  // US-07, when telemetry.enabled: the baseline, the id hasher and the recorder (spool +
  // shipper). The recorder is stopped first on destruction: it drains into its sink.
  std::unique_ptr<telemetry::Baseline> baseline;
  std::unique_ptr<telemetry::IdHasher> id_hasher;
  std::unique_ptr<telemetry::Recorder> recorder;
  // US-08, when the pipeline has `reserve` or auth.keys are configured: API keys, rate
  // limits, budget holds, the ledger and the cost breaker.
  std::unique_ptr<control::TrafficControl> traffic;

  Services();
  ~Services();
  Services(Services&&) noexcept;
  Services& operator=(Services&&) noexcept;

  // Loads the catalog, promotions, templates and prices named by `config`, builds the cache tier
  // and creates its providers. `config`, `metrics` and `clock` must outlive the Services.
  // `simulation` (may be null) is handed to the `simulated` providers (offline replay); it must
  // outlive the Services.
  static absl::StatusOr<std::unique_ptr<Services>> Create(const core::Config* config,
                                                          core::Registry* metrics,
                                                          const core::Clock* clock,
                                                          llm::Simulation* simulation = nullptr);

 private:
  static absl::Status StartTelemetry(Services* s);
  static absl::Status StartControl(Services* s);
};

}  // namespace mangaassist::pipeline
