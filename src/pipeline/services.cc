#include "pipeline/services.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "cache/cache_tier.h"
#include "intent/classifier.h"
#include "intent/drift.h"
#include "core/pricing.h"
#include "llm/extractive/extractive_responder.h"
#include "llm/models.h"
#include "llm/token_estimator.h"
#include "telemetry/baseline.h"
#include "telemetry/event_builder.h"
#include "telemetry/recorder.h"
#include "telemetry/redis_stream_sink.h"
#include "telemetry/sqlite_sink.h"
#include "rag/catalog.h"
#include "spdlog/spdlog.h"

namespace mangaassist::pipeline {

Services::Services() = default;
Services::~Services() {
  if (recorder != nullptr) recorder->Stop();  // drains every recorded event into the sink
  recorder.reset();
  models.reset();  // providers refer to the responder and prices
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

  auto responder = llm::ExtractiveResponder::Create(
      s->catalog.get(), config->DataPath(config->responder.templates));
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
  auto tier = cache::NewCacheTier(config->cache, clock, metrics);
  if (!tier.ok()) return tier.status();
  s->cache = *std::move(tier);
  if (config->telemetry.enabled) {
    absl::Status t = StartTelemetry(s.get());
    if (!t.ok()) return t;
  }
  return s;
}

}  // namespace mangaassist::pipeline
