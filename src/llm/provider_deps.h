// ProviderDeps: what a provider factory is given besides its typed config — shared services
// owned by the caller (the gateway), which must outlive every provider created with them.
// Plain data; the pointees are thread-safe.
#pragma once

#include "core/clock.h"
#include "core/metrics.h"

namespace mangaassist::http {
class UpstreamClient;
}  // namespace mangaassist::http

namespace mangaassist::llm {

class ExtractiveResponder;
class Simulation;  // llm/simulated/simulation.h

struct ProviderDeps {
  // The gateway's outbound client. May be null: a network provider then creates its own (so
  // does one whose config names a `ca_file`, which is a property of the client).
  http::UpstreamClient* client = nullptr;
  // Metrics registry; null: the provider keeps a private one.
  core::Registry* metrics = nullptr;
  // Latency, circuit breakers, Retry-After dates, SigV4 timestamps.
  const core::Clock* clock = &core::SystemClock();
  // The offline responder behind the `extractive` provider type; required for that type only.
  const ExtractiveResponder* extractive = nullptr;
  // The offline replay's view of the world behind the `simulated` provider (answer lengths from
  // the trace, brown-outs, virtual time). Null: the provider uses its own distributions.
  Simulation* simulation = nullptr;
};

}  // namespace mangaassist::llm
