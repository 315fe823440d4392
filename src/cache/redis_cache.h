// RedisCache: the distributed backend of the cache tier. Each keyspace is routed to its own
// Redis endpoint (URL + logical DB; the seed puts llmresp:/rate:/cost: on a noeviction instance
// and the rest on an allkeys-lru one, docs/operations.md) or to the in-process `local` cache.
// Endpoints sharing host, port and DB share one small connection pool.
//
// Redis down: an I/O error or timeout marks the endpoint down; until a reconnect succeeds
// (probed by one caller at a time after an exponential backoff with jitter) its keyspaces
// follow their fallback — `memory` serves them from `local`, `skip` answers Unavailable at once
// (callers treat that as a miss). No caller ever waits longer than one command timeout for a
// dead Redis. On recovery the local copies of fallback keyspaces are dropped (they may have
// missed invalidations). Calls block the calling thread for at most the command timeout.
// Thread-safe.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cache/cache.h"
#include "cache/redis_pool.h"
#include "core/clock.h"
#include "core/metrics.h"

namespace mangaassist::cache {

enum class Fallback { kMemory, kSkip };
std::string_view FallbackName(Fallback f);

struct RedisCacheOptions {
  // nullopt: the keyspace lives in `local` only.
  std::array<std::optional<RedisEndpoint>, kKeyspaceCount> endpoints;
  std::array<Fallback, kKeyspaceCount> fallback{};  // default kMemory
  int pool_size = 4;                                // connections per endpoint
  absl::Duration connect_timeout = absl::Milliseconds(100);
  absl::Duration command_timeout = absl::Milliseconds(100);
  absl::Duration backoff_initial = absl::Milliseconds(100);
  absl::Duration backoff_max = absl::Seconds(5);
  const core::Clock* clock = &core::SystemClock();  // backoff timing
  core::Registry* metrics = nullptr;                // may be null
};

// `local` serves the keyspaces without an endpoint and the memory fallback. REQUIRES: non-null.
std::unique_ptr<Cache> NewRedisCache(const RedisCacheOptions& options,
                                     std::unique_ptr<Cache> local);

}  // namespace mangaassist::cache
