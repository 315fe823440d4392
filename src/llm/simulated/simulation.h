// Simulation: what the offline replay (src/replay) tells the `simulated` provider about the world
// it stands in for — how long the real model's answer to this message was (the trace's
// `output_tokens`), the ground-truth intent, prompt parts the pipeline does not assemble yet,
// a brown-out — and the virtual clock that the call's latency advances instead of sleeping.
// The replay owns it; the provider only reads plans and reports elapsed time. Implementations
// decide their own thread-safety (the replay drives one request at a time).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace mangaassist::llm {

struct SimulatedCallPlan {
  std::string intent;                    // ground truth; "" when unknown
  std::optional<int64_t> output_tokens;  // the real answer's length; nullopt: drawn per intent
  // Prompt tokens the real system would send that this pipeline does not assemble (the §5
  // baseline's full system prompt and top-k RAG chunks); added to the counted prompt.
  int64_t extra_input_tokens = 0;
  // Share of attempts, in per mille, that fail with Unavailable (a provider brown-out).
  int error_permille = 0;
};

class Simulation {
 public:
  virtual ~Simulation() = default;
  // The plan for the call of `request_id`; a default plan when it knows none.
  virtual SimulatedCallPlan Plan(std::string_view request_id) const = 0;
  // `d` of simulated time passed (a call's latency, a retry's backoff). Never sleeps.
  virtual void Elapse(absl::Duration d) = 0;
};

}  // namespace mangaassist::llm
