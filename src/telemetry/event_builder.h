// BuildCostEvent: turns a finished RequestContext into the CostEvent it emits (US-07): keyed
// hashes instead of user and session ids, the route, model, usage and cost lines, and the
// counterfactual baseline with the savings attributed to each story (baseline.h).
// IdHasher is immutable after Create() and safe to share between threads; BuildCostEvent is a
// pure function of its arguments.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/request_context.h"
#include "telemetry/baseline.h"
#include "telemetry/event.h"

namespace mangaassist::telemetry {

// HMAC-SHA256 under a secret key, as lower-case hex of the first 16 bytes (32 characters). The
// key's inner and outer pads are hashed once at Create(), so one Hash() is two SHA-256
// finalizations of a copied state (no key schedule, no algorithm fetch per call).
class IdHasher {
 public:
  // REQUIRES: `key` is non-empty (a secret of at least 32 random bytes is recommended).
  static std::unique_ptr<IdHasher> Create(std::string_view key);
  ~IdHasher();
  IdHasher(const IdHasher&) = delete;
  IdHasher& operator=(const IdHasher&) = delete;

  // "" for an empty id (an anonymous compat request has no user): nothing to correlate.
  std::string Hash(std::string_view id) const;

 private:
  IdHasher() = default;
  struct State;
  std::unique_ptr<State> state_;
};

struct EventBuilderOptions {
  const IdHasher* hasher = nullptr;    // REQUIRES: non-null
  const Baseline* baseline = nullptr;  // nullptr: baseline 0 and no savings
  // Tokens of the user's message for the baseline (e.g. the calibrated llm::TokenEstimator,
  // which telemetry cannot depend on). Empty: RoughTokenCount().
  std::function<int64_t(std::string_view text, core::Lang lang)> count_tokens;
};

// The event of a finished request. ts_unix_ms and latency_us come from ctx.clock (latency is
// measured from ctx.start_mono_ns when set); stage_latency_us is ctx's; http_status is 200, or
// core::HttpStatusFor(ctx.outcome_code) after a failure. flags_hash stays empty (US-08 fills it).
CostEvent BuildCostEvent(const core::RequestContext& ctx, const EventBuilderOptions& o);

// BuildCostEvent in two halves, so the request thread only copies (CaptureCostEvent: the times,
// ids, labels, usage and cost lines) and the derived fields — keyed id hashes, the message's
// token count, the baseline and the per-story savings — are computed later on another thread
// (CompleteCostEvent). CompleteCostEvent(CaptureCostEvent(ctx), o) equals BuildCostEvent(ctx, o).
struct CostEventCapture {
  CostEvent event;  // every field copied from the context; hashes, baseline and savings empty
  std::string user_id, session_id, message;
  int64_t history_turns = 0;
  core::Route cached_route = core::Route::kNone;
  core::TokenUsage cached_usage;
  core::CostLines cached_cost;
  std::optional<BaselineCost> baseline;  // set by ComputeCapturedBaseline (else computed later)
};
CostEventCapture CaptureCostEvent(const core::RequestContext& ctx);
// Computes the capture's baseline now, on the calling thread (the native response shows it);
// CompleteCostEvent then reuses it. Null without a baseline in `o`.
const BaselineCost* ComputeCapturedBaseline(CostEventCapture& capture, const EventBuilderOptions& o);
CostEvent CompleteCostEvent(CostEventCapture capture, const EventBuilderOptions& o);

}  // namespace mangaassist::telemetry
