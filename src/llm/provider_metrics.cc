#include "llm/provider_metrics.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "core/strings.h"

namespace mangaassist::llm {

namespace {

constexpr char kRequestsHelp[] = "LLM provider calls by provider, model and outcome.";

}  // namespace

// One model's series, created on first use; the outcome counters other than "ok" are looked up
// in the registry when they happen (errors are rare, and the set of codes is small).
struct ProviderMetrics::ModelSeries {
  ModelSeries(core::Registry* r, const std::string& provider, const std::string& model)
      : ok(r->GetCounter("mangaassist_llm_requests_total", kRequestsHelp,
                         {{"provider", provider}, {"model", model}, {"outcome", "ok"}})),
        latency(r->GetHistogram("mangaassist_llm_request_duration_seconds",
                                "LLM provider call latency (streams: until their end).",
                                {{"provider", provider}, {"model", model}},
                                core::LatencyBucketsMicros(), 1'000'000)),
        input(Tokens(r, provider, model, "input")),
        output(Tokens(r, provider, model, "output")),
        cache_read(Tokens(r, provider, model, "cache_read")),
        cache_write(Tokens(r, provider, model, "cache_write")) {}

  static core::Counter& Tokens(core::Registry* r, const std::string& provider,
                               const std::string& model, const char* kind) {
    return r->GetCounter("mangaassist_llm_tokens_total",
                         "Provider-reported LLM tokens by provider, model and kind.",
                         {{"provider", provider}, {"model", model}, {"kind", kind}});
  }

  core::Counter& ok;
  core::Histogram& latency;
  core::Counter& input;
  core::Counter& output;
  core::Counter& cache_read;
  core::Counter& cache_write;
};

ProviderMetrics::ProviderMetrics(std::string provider, core::Registry* registry)
    : provider_(std::move(provider)),
      own_registry_(registry == nullptr ? std::make_unique<core::Registry>() : nullptr),
      registry_(registry == nullptr ? own_registry_.get() : registry),
      attempts_(registry_->GetCounter("mangaassist_llm_upstream_attempts_total",
                                      "Upstream attempts of LLM calls, retries included.",
                                      {{"provider", provider_}})) {}

ProviderMetrics::~ProviderMetrics() = default;

std::string ProviderMetrics::OutcomeOf(const absl::Status& status) {
  if (status.ok()) return "ok";
  return absl::AsciiStrToLower(absl::StatusCodeToString(status.code()));
}

ProviderMetrics::ModelSeries& ProviderMetrics::SeriesFor(std::string_view model) {
  absl::MutexLock lock(&mu_);
  auto it = models_.find(core::ToAbsl(model));
  if (it == models_.end()) {
    std::string key(model);
    auto series = std::make_unique<ModelSeries>(registry_, provider_, key);
    it = models_.emplace(std::move(key), std::move(series)).first;
  }
  return *it->second;
}

void ProviderMetrics::RecordCall(std::string_view model, const absl::Status& status,
                                 absl::Duration latency, const core::TokenUsage& usage,
                                 int attempts) {
  ModelSeries& series = SeriesFor(model);
  if (status.ok()) {
    series.ok.Inc();
  } else {
    registry_
        ->GetCounter("mangaassist_llm_requests_total", kRequestsHelp,
                     {{"provider", provider_},
                      {"model", std::string(model)},
                      {"outcome", OutcomeOf(status)}})
        .Inc();
  }
  series.latency.Observe(absl::ToInt64Microseconds(latency));
  series.input.Inc(usage.input_tokens);
  series.output.Inc(usage.output_tokens);
  series.cache_read.Inc(usage.cache_read_tokens);
  series.cache_write.Inc(usage.cache_write_tokens);
  if (attempts > 0) attempts_.Inc(attempts);
}

}  // namespace mangaassist::llm
