// The `simulated` provider: a model that is never called, for offline replay (SPEC §6) and for
// load tests without a network. Its answer is a placeholder naming the request; its usage and
// latency are what the real model would plausibly have reported:
//   - input tokens: the prompt it was sent (RoughPromptTokens) plus the plan's
//     extra_input_tokens; no provider prompt cache is modelled (every prompt token at the
//     input rate);
//   - output tokens: the plan's output_tokens (a trace's ground truth), else a draw from the
//     intent's answer-length distribution (answer_lengths.h) keyed by the request id; capped at
//     max_tokens (finish reason "length");
//   - latency: time to first token + time per output token by model family (sonnet/opus,
//     haiku, other; docs/replay.md), ±20% keyed by the request id. With a Simulation the latency
//     and retry backoffs advance its virtual clock; nothing ever sleeps.
// Failures: with a plan's error_permille, attempts fail with Unavailable (a 503-like brown-out);
// the provider retries them per its `retry:` config and counts them in its circuit breaker
// (`breaker:`, on the injected clock) like a network provider, so fallback chains and breakers
// are exercised. Every decision is a hash of (request id, model, attempt): reproducible and
// independent of call order. Thread-safe.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "core/llm_config.h"
#include "llm/provider.h"
#include "llm/provider_deps.h"

namespace mangaassist::llm {

absl::StatusOr<std::unique_ptr<Provider>> NewSimulatedProvider(const core::ProviderConfig& config,
                                                               const ProviderDeps& deps);

}  // namespace mangaassist::llm
