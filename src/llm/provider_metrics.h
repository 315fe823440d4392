// ProviderMetrics: the metrics every provider keeps, declared together in one place:
//   mangaassist_llm_requests_total{provider,model,outcome}   calls by outcome ("ok" or the
//                                                            status code, e.g. "unavailable")
//   mangaassist_llm_request_duration_seconds{provider,model}  call latency (streams: to the end)
//   mangaassist_llm_tokens_total{provider,model,kind}         provider-reported usage by kind
//                                                            (input, output, cache_read,
//                                                            cache_write)
//   mangaassist_llm_upstream_attempts_total{provider}         upstream attempts, retries included
// Thread-safe: one instance per provider, shared by all its calls.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/metrics.h"
#include "core/pricing.h"

namespace mangaassist::llm {

class ProviderMetrics {
 public:
  // `registry` may be null (a private registry is kept). It must outlive this object.
  ProviderMetrics(std::string provider, core::Registry* registry);
  ~ProviderMetrics();
  ProviderMetrics(const ProviderMetrics&) = delete;
  ProviderMetrics& operator=(const ProviderMetrics&) = delete;

  // Records one finished call (`status` OK or its error; `usage` is counted either way: a failed
  // stream may still have consumed tokens).
  void RecordCall(std::string_view model, const absl::Status& status, absl::Duration latency,
                  const core::TokenUsage& usage, int attempts);

  // The "outcome" label of a status: "ok" or the lower-case code name.
  static std::string OutcomeOf(const absl::Status& status);

 private:
  struct ModelSeries;
  ModelSeries& SeriesFor(std::string_view model);

  const std::string provider_;
  std::unique_ptr<core::Registry> own_registry_;
  core::Registry* registry_;
  core::Counter& attempts_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<ModelSeries>> models_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mangaassist::llm
