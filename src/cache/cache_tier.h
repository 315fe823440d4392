// The configured cache tier (US-03): one Cache over every keyspace, built from `cache:` config —
// keyspaces with a Redis URL (their own or cache.redis_url) go to Redis with their fallback, the
// rest to the in-process cache — and wrapped so every lookup is counted per keyspace
// (mangaassist_cache_requests_total{keyspace,result=hit|miss|error}: the hit rate). Thread-safe.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "cache/cache.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/metrics.h"

namespace mangaassist::cache {

// Invalid URLs or keyspace names are InvalidArgument naming the key. Redis is not contacted
// here (a Redis that is down at start-up only means the fallback applies until it is back).
// REQUIRES: `clock` outlives the cache; `metrics` may be null.
absl::StatusOr<std::unique_ptr<Cache>> NewCacheTier(const core::CacheConfig& config,
                                                    const core::Clock* clock,
                                                    core::Registry* metrics);

// Wraps `inner` so that Get/GetMany count hits, misses and errors per keyspace in `metrics`.
std::unique_ptr<Cache> NewInstrumentedCache(std::unique_ptr<Cache> inner, core::Registry* metrics);

}  // namespace mangaassist::cache
