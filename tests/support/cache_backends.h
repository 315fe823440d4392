// The two backends of the cache tier for shared test suites (one suite, run against each):
// the in-process MemoryCache, and RedisCache on a real redis-server (with an in-process
// fallback), every keyspace on its seed logical DB.
//
//   INSTANTIATE_TEST_SUITE_P(Backends, MyTest,
//                            ::testing::Values(CacheBackend::kMemory, CacheBackend::kRedis),
//                            CacheBackendName);
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "cache/cache.h"
#include "core/clock.h"
#include "gtest/gtest.h"
#include "tests/support/redis_server.h"

namespace mangaassist::testing {

enum class CacheBackend { kMemory, kRedis };

std::string CacheBackendName(const ::testing::TestParamInfo<CacheBackend>& info);

// A fresh, empty cache of `backend` on `clock`. For kRedis, `redis` is started on first use
// (and kept, so a suite starts one server) and flushed; the Redis cache has 8 pooled
// connections and a 2 s command timeout (stampede tests queue many threads on the pool).
absl::StatusOr<std::unique_ptr<cache::Cache>> NewTestCache(CacheBackend backend,
                                                           const core::Clock* clock,
                                                           std::unique_ptr<RedisServer>* redis);

}  // namespace mangaassist::testing
