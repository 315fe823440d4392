#include "pipeline/services.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "cache/cache_tier.h"
#include "control/audit.h"
#include "control/configured.h"
#include "control/flags.h"
#include "control/traffic.h"
#include "core/pricing.h"
#include "intent/classifier.h"
#include "intent/drift.h"
#include "llm/extractive/extractive_responder.h"
#include "llm/models.h"
#include "llm/token_estimator.h"
#include "rag/catalog.h"
#include "rag/promotions.h"
#include "rag/store_lookup.h"
#include "spdlog/spdlog.h"
#include "telemetry/baseline.h"
#include "telemetry/event_builder.h"
#include "telemetry/recorder.h"
#include "telemetry/redis_stream_sink.h"
#include "telemetry/sqlite_sink.h"

namespace mangaassist::pipeline {

Services::Services() = default;
Services::~Services() {
  traffic.reset();  // flushes the budget ledger
  if (recorder != nullptr) recorder->Stop();  // drains every recorded event into the sink
  recorder.reset();
  models.reset();  // providers refer to the responder and prices
  flags.reset();   // its poller stops; it appends to `audit`
  audit.reset();
}
Services::Services(Services&&) noexcept = default;
Services& Services::operator=(Services&&) noexcept = default;

absl::Status Services::StartTelemetry(Services* s) {
  const core::TelemetryConfig& t = s->config->telemetry;
  auto baseline = telemetry::LoadBaseline(s->config->DataPath(t.baseline_file), *s->prices);
  if (!baseline.ok()) return baseline.status();
  s->baseline = std::make_unique<telemetry::Baseline>(*std::move(baseline));
  s->id_hasher = telemetry::IdHasher::Create(t.id_hash_key);
  telemetry::RecorderOptions options;
  options.spool.dir = s->config->DataPath(t.spool_dir);
  options.spool.segment_bytes = t.segment_bytes;
  options.spool.quota_bytes = t.quota_bytes;
  options.spool.fsync_policy =
      t.fsync == "interval" ? telemetry::FsyncPolicy::kInterval : telemetry::FsyncPolicy::kEveryBatch;
  options.spool.fsync_interval = t.fsync_interval;
  options.spool.clock = s->clock;
  options.metrics = s->metrics;
  options.ship_batch = t.ship_batch;
  options.ship_interval = t.ship_interval;
  if (t.sink == "redis") {
    telemetry::RedisStreamSinkOptions r;
    r.host = t.redis_host;
    r.port = t.redis_port;
    r.stream = t.redis_stream;
    options.writer = telemetry::NewRedisStreamSink(r);
  } else {
    telemetry::SqliteSinkOptions q;
    q.path = s->config->DataPath(t.sqlite_path);
    q.retention_days = t.retention_days;
    q.clock = s->clock;
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(q.path).parent_path(), ec);
    auto sink = telemetry::NewSqliteSink(q);
    if (!sink.ok()) return sink.status();
    options.writer = *std::move(sink);
  }
  auto recorder = telemetry::Recorder::Start(std::move(options));
  if (!recorder.ok()) {
    return absl::Status(recorder.status().code(),
                        absl::StrCat("telemetry: ", recorder.status().message()));
  }
  s->recorder = *std::move(recorder);
  return absl::OkStatus();
}

absl::Status Services::StartControl(Services* s) {
  auto log = control::OpenConfiguredAuditLog(*s->config, s->clock);
  if (!log.ok()) return log.status();
  s->audit = *std::move(log);
  auto evaluator =
      control::MakeConfiguredFlagEvaluator(*s->config, s->audit.get(), s->clock, s->metrics);
  if (!evaluator.ok()) return evaluator.status();
  s->flags = *std::move(evaluator);
  return absl::OkStatus();
}

namespace {

// The daily caps as configured, in one canonical line (the audit trail's budget.set value).
std::string BudgetText(const core::Config& c) {
  std::string text = absl::StrCat("deployment ", c.budget.daily_cap.ToUsdString(), " USD");
  for (const auto& [tenant, cap] : c.budget.tenants) {
    absl::StrAppend(&text, "; tenant ", tenant, " ", cap.ToUsdString(), " USD");
  }
  for (const core::ApiKeyConfig& k : c.auth.keys) {
    if (k.daily_budget > core::Money::Zero()) {
      absl::StrAppend(&text, "; key ", k.name, " ", k.daily_budget.ToUsdString(), " USD");
    }
  }
  absl::StrAppend(&text, "; day in ", c.budget.time_zone, "; ",
                  c.budget.enabled ? "enforced" : "not enforced");
  return text;
}

// Budgets change by deploying a config: a start-up whose caps differ from the last recorded
// ones appends a budget.set entry, so every change is in the trail with where it came from.
void AuditBudget(control::AuditLog* audit, const core::Config& c) {
  if (audit == nullptr) return;
  const std::string now = BudgetText(c);
  std::string last;
  int64_t after = 0;
  for (;;) {
    auto page = audit->List(after, 1000);
    if (!page.ok() || page->empty()) break;
    for (const control::AuditEntry& e : *page) {
      if (e.record.action == "budget.set") last = e.record.after;
      after = e.seq;
    }
    if (page->size() < 1000) break;
  }
  if (last == now) return;
  control::AuditRecord r;
  r.action = "budget.set";
  r.subject = "daily caps";
  r.before = last.empty() ? "(none recorded)" : last;
  r.after = now;
  r.who.actor = "config";
  r.who.reason = absl::StrCat("start-up with ", c.source);
  if (auto e = audit->Append(r); !e.ok()) {
    spdlog::error("audit: budget change not recorded: {}", e.status().ToString());
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Services>> Services::Create(const core::Config* config,
                                                           core::Registry* metrics,
                                                           const core::Clock* clock,
                                                           llm::Simulation* simulation) {
  auto s = std::make_unique<Services>();
  s->config = config;
  s->metrics = metrics;
  s->clock = clock;

  std::string catalog_path = config->DataPath(config->responder.catalog);
  rag::LoadReport report;
  auto catalog = rag::Catalog::LoadJsonl(catalog_path, &report);
  if (!catalog.ok()) return catalog.status();
  for (const auto& bad : report.bad_lines) spdlog::warn("catalog: {}", bad);
  if (report.bad_line_count > 0) {
    spdlog::warn("catalog {}: {} rows loaded, {} bad lines skipped", catalog_path,
                 report.loaded_rows, report.bad_line_count);
  }
  s->catalog = std::move(*catalog);

  auto tier = cache::NewCacheTier(config->cache, clock, metrics);
  if (!tier.ok()) return tier.status();
  s->cache = *std::move(tier);
  rag::StoreLookupOptions lookup;
  lookup.cache = s->cache.get();
  s->catalog_origin = rag::NewCatalogOrigin(s->catalog.get());
  lookup.catalog = s->catalog_origin.get();
  if (!config->responder.promotions.empty()) {
    auto promotions = rag::PromotionSet::LoadFile(config->DataPath(config->responder.promotions));
    if (!promotions.ok()) return promotions.status();
    s->promotions = *std::move(promotions);
    s->promotion_origin = rag::NewPromotionOrigin(s->promotions.get());
    lookup.promotions = s->promotion_origin.get();
  }
  lookup.clock = clock;
  const auto ttl = [&](cache::Keyspace ks) {
    return config->cache.Keyspace(cache::KeyspaceName(ks)).ttl;
  };
  lookup.product_ttl = ttl(cache::Keyspace::kProduct);
  lookup.reco_ttl = ttl(cache::Keyspace::kReco);
  lookup.promo_ttl = ttl(cache::Keyspace::kPromo);
  s->store_lookup = std::make_unique<rag::StoreLookup>(lookup);

  auto responder = llm::ExtractiveResponder::Create(
      s->catalog.get(), config->DataPath(config->responder.templates), s->store_lookup.get());
  if (!responder.ok()) return responder.status();
  s->responder = std::move(*responder);
  auto prices = core::PriceTable::LoadFile(config->DataPath(config->pricing_file));
  if (!prices.ok()) return prices.status();
  s->prices = std::make_unique<core::PriceTable>(*std::move(prices));
  llm::ProviderDeps deps;
  deps.metrics = metrics;
  deps.clock = clock;
  deps.extractive = s->responder.get();
  deps.simulation = simulation;
  auto models = llm::Models::Create(*config, s->prices.get(), deps);
  if (!models.ok()) return models.status();
  s->models = *std::move(models);
  s->token_estimator = std::make_unique<llm::TokenEstimator>();
  if (absl::Status c = StartControl(s.get()); !c.ok()) return c;
  const auto& stages = config->pipeline.stages;
  if (std::find(stages.begin(), stages.end(), "intent") != stages.end()) {
    intent::ClassifierOptions io;
    io.threshold = config->intent.threshold;
    auto classifier = intent::Classifier::Load(config->DataPath(config->intent.model), io);
    if (!classifier.ok()) return classifier.status();
    s->intent = *std::move(classifier);
    std::vector<std::string> labels = s->intent->model().labels();
    labels.emplace_back(intent::kUncertain);
    intent::DriftOptions d;
    d.window = config->intent.drift_window;
    d.min_requests = config->intent.drift_min_requests;
    d.reference = config->intent.drift_reference == "previous_window"
                      ? intent::DriftReference::kPreviousWindow
                      : intent::DriftReference::kFirstWindow;
    s->intent_drift = std::make_unique<intent::DriftMonitor>(std::move(labels), d, metrics);
  }
  if (std::find(stages.begin(), stages.end(), "reserve") != stages.end() ||
      !config->auth.keys.empty()) {
    // Every breaker transition goes to the audit trail (the seed's CloudTrail on every breaker
    // state change), with the level change and why.
    control::AuditLog* audit = s->audit.get();
    auto on_transition = [audit](const control::BreakerTransition& t) {
      if (audit == nullptr) return;
      control::AuditRecord r;
      r.action = "breaker.transition";
      r.subject = "deployment";
      r.before = absl::StrCat("level ", t.from);
      r.after = absl::StrCat("level ", t.to);
      r.who.actor = "cost-breaker";
      r.who.reason = t.reason;
      r.who.request_id = t.request_id;
      if (auto e = audit->Append(r); !e.ok()) {
        spdlog::error("audit: breaker transition not recorded: {}", e.status().ToString());
      }
    };
    auto traffic = control::TrafficControl::Create(*config, clock, metrics, on_transition);
    if (!traffic.ok()) return traffic.status();
    s->traffic = *std::move(traffic);
    AuditBudget(s->audit.get(), *config);
  }
  if (config->telemetry.enabled) {
    absl::Status t = StartTelemetry(s.get());
    if (!t.ok()) return t;
  }
  return s;
}

}  // namespace mangaassist::pipeline
