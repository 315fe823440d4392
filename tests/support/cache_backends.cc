#include "tests/support/cache_backends.h"

#include <hiredis/hiredis.h>

#include <utility>

#include "cache/memory_cache.h"
#include "cache/redis_cache.h"

namespace mangaassist::testing {

std::string CacheBackendName(const ::testing::TestParamInfo<CacheBackend>& info) {
  return info.param == CacheBackend::kMemory ? "Memory" : "Redis";
}

absl::StatusOr<std::unique_ptr<cache::Cache>> NewTestCache(CacheBackend backend,
                                                           const core::Clock* clock,
                                                           std::unique_ptr<RedisServer>* redis) {
  cache::MemoryCacheOptions local;
  local.clock = clock;
  if (backend == CacheBackend::kMemory) return std::make_unique<cache::MemoryCache>(local);
  if (*redis == nullptr) {
    absl::StatusOr<std::unique_ptr<RedisServer>> started = RedisServer::Start();
    if (!started.ok()) return started.status();
    *redis = *std::move(started);
  }
  redisContext* c = redisConnect((*redis)->host().c_str(), (*redis)->port());
  if (c == nullptr || c->err != 0) {
    if (c != nullptr) redisFree(c);
    return absl::UnavailableError("cannot connect to the test redis-server");
  }
  freeReplyObject(redisCommand(c, "FLUSHALL"));
  redisFree(c);
  cache::RedisCacheOptions o;
  for (cache::Keyspace ks : cache::AllKeyspaces()) {
    o.endpoints[static_cast<size_t>(ks)] =
        cache::RedisEndpoint{(*redis)->host(), (*redis)->port(), cache::Info(ks).db, ""};
  }
  o.pool_size = 8;
  o.command_timeout = absl::Seconds(2);
  o.clock = clock;
  return cache::NewRedisCache(o, std::make_unique<cache::MemoryCache>(local));
}

}  // namespace mangaassist::testing
