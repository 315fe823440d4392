#include "cache/cache_tier.h"

#include <array>
#include <string>

#include "absl/strings/str_cat.h"
#include "cache/memory_cache.h"
#include "cache/redis_cache.h"
#include "core/strings.h"

namespace mangaassist::cache {
namespace {

// Metrics of the tier's users, declared together: lookups per keyspace and result.
struct LookupMetrics {
  struct PerKeyspace {
    core::Counter* hit = nullptr;
    core::Counter* miss = nullptr;
    core::Counter* error = nullptr;
  };
  std::array<PerKeyspace, kKeyspaceCount> by_keyspace{};

  explicit LookupMetrics(core::Registry* r) {
    if (r == nullptr) return;
    for (Keyspace ks : AllKeyspaces()) {
      auto make = [&](const char* result) {
        return &r->GetCounter("mangaassist_cache_requests_total",
                              "Cache lookups by keyspace and result (hit rate = hit / all)",
                              {{"keyspace", std::string(KeyspaceName(ks))}, {"result", result}});
      };
      by_keyspace[static_cast<size_t>(ks)] = {make("hit"), make("miss"), make("error")};
    }
  }

  void Count(Keyspace ks, const absl::Status& st) const {
    const PerKeyspace& m = by_keyspace[static_cast<size_t>(ks)];
    core::Counter* c = st.ok()                                    ? m.hit
                       : st.code() == absl::StatusCode::kNotFound ? m.miss
                                                                  : m.error;
    if (c != nullptr) c->Inc();
  }
};

class InstrumentedCache final : public ForwardingCache {
 public:
  InstrumentedCache(std::unique_ptr<Cache> inner, core::Registry* metrics)
      : ForwardingCache(inner.get()), owned_(std::move(inner)), metrics_(metrics) {}

  absl::StatusOr<std::string> Get(Keyspace ks, std::string_view key) override {
    absl::StatusOr<std::string> r = ForwardingCache::Get(ks, key);
    metrics_.Count(ks, r.status());
    return r;
  }
  std::vector<absl::StatusOr<std::string>> GetMany(Keyspace ks,
                                                   const std::vector<std::string>& keys) override {
    std::vector<absl::StatusOr<std::string>> r = ForwardingCache::GetMany(ks, keys);
    for (const auto& v : r) metrics_.Count(ks, v.status());
    return r;
  }

 private:
  std::unique_ptr<Cache> owned_;
  LookupMetrics metrics_;
};

}  // namespace

std::unique_ptr<Cache> NewInstrumentedCache(std::unique_ptr<Cache> inner, core::Registry* metrics) {
  return std::make_unique<InstrumentedCache>(std::move(inner), metrics);
}

absl::StatusOr<std::unique_ptr<Cache>> NewCacheTier(const core::CacheConfig& config,
                                                    const core::Clock* clock,
                                                    core::Registry* metrics) {
  MemoryCacheOptions mem;
  mem.clock = clock;
  mem.shards = config.shards;
  RedisCacheOptions redis;
  bool any_remote = false;
  for (Keyspace ks : AllKeyspaces()) {
    const size_t i = static_cast<size_t>(ks);
    const core::CacheKeyspaceConfig& k = config.Keyspace(KeyspaceName(ks));
    mem.max_bytes[i] = k.max_bytes;
    redis.fallback[i] = k.fallback == "skip" ? Fallback::kSkip : Fallback::kMemory;
    const std::string& url = k.url.empty() ? config.redis_url : k.url;
    if (url.empty()) continue;
    absl::StatusOr<RedisEndpoint> ep = ParseRedisUrl(url, Info(ks).db);
    if (!ep.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cache.keyspaces.", core::ToAbsl(KeyspaceName(ks)), ".url: ", ep.status().message()));
    }
    redis.endpoints[i] = *std::move(ep);
    any_remote = true;
  }
  std::unique_ptr<Cache> tier = std::make_unique<MemoryCache>(mem);
  if (any_remote) {
    redis.pool_size = config.pool_size;
    redis.connect_timeout = config.connect_timeout;
    redis.command_timeout = config.command_timeout;
    redis.backoff_initial = config.backoff_initial;
    redis.backoff_max = config.backoff_max;
    redis.clock = clock;
    redis.metrics = metrics;
    tier = NewRedisCache(redis, std::move(tier));
  }
  return NewInstrumentedCache(std::move(tier), metrics);
}

}  // namespace mangaassist::cache
