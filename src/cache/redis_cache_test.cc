// What only the Redis backend promises: the seed's logical DBs, URL parsing, and the outage
// path — Redis killed mid-test (the memory fallback serves, `skip` keyspaces fail fast, health
// and metrics say so), then restarted (recovery after the backoff, local copies dropped).
#include "cache/redis_cache.h"

#include <hiredis/hiredis.h>

#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "cache/memory_cache.h"
#include "core/clock.h"
#include "core/metrics.h"
#include "gtest/gtest.h"
#include "tests/support/redis_server.h"

namespace mangaassist::cache {
namespace {

std::string RawGet(const testing::RedisServer& redis, int db, const std::string& key) {
  redisContext* c = redisConnect(redis.host().c_str(), redis.port());
  if (c == nullptr || c->err != 0) return "<no connection>";
  freeReplyObject(redisCommand(c, "SELECT %d", db));
  auto* r = static_cast<redisReply*>(redisCommand(c, "GET %b", key.data(), key.size()));
  std::string out =
      r != nullptr && r->type == REDIS_REPLY_STRING ? std::string(r->str, r->len) : "<nil>";
  if (r != nullptr) freeReplyObject(r);
  redisFree(c);
  return out;
}

KeyspaceHealth HealthOf(const Cache& cache, Keyspace ks) {
  return cache.Health()[static_cast<size_t>(ks)];
}

TEST(RedisUrlTest, ParsesHostPortDbAndPassword) {
  auto ep = ParseRedisUrl("redis://:s3cret@cache.internal:6380/4", 1);
  ASSERT_TRUE(ep.ok()) << ep.status();
  EXPECT_EQ(ep->host, "cache.internal");
  EXPECT_EQ(ep->port, 6380);
  EXPECT_EQ(ep->db, 4);
  EXPECT_EQ(ep->password, "s3cret");
  EXPECT_EQ(ep->Display(), "redis://cache.internal:6380/4");  // never the password
  auto dflt = ParseRedisUrl("redis://10.0.0.5", 2);
  ASSERT_TRUE(dflt.ok());
  EXPECT_EQ(dflt->port, 6379);
  EXPECT_EQ(dflt->db, 2);
  for (const char* bad : {"http://x:6379", "redis://", "redis://h:0", "redis://h:99999",
                          "redis://h/16", "redis://user:pw@h", "redis://h:port"}) {
    EXPECT_FALSE(ParseRedisUrl(bad, 0).ok()) << bad;
  }
}

class RedisCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = testing::RedisServer::Start();
    ASSERT_TRUE(r.ok()) << r.status();
    redis_ = *std::move(r);
    RedisCacheOptions o;
    for (Keyspace ks : {Keyspace::kLlmResp, Keyspace::kProduct, Keyspace::kRate}) {
      o.endpoints[static_cast<size_t>(ks)] =
          RedisEndpoint{redis_->host(), redis_->port(), Info(ks).db, ""};
    }
    o.fallback[static_cast<size_t>(Keyspace::kProduct)] = Fallback::kSkip;
    o.backoff_initial = absl::Milliseconds(100);
    o.backoff_max = absl::Seconds(2);
    o.command_timeout = absl::Milliseconds(200);
    o.clock = &clock_;
    o.metrics = &metrics_;
    MemoryCacheOptions local;
    local.clock = &clock_;
    cache_ = NewRedisCache(o, std::make_unique<MemoryCache>(local));
  }

  int64_t Up(const char* ks) {
    return metrics_.GetGauge("mangaassist_cache_backend_up", "", {{"keyspace", ks}}).Value();
  }

  core::ManualClock clock_;
  core::Registry metrics_;
  std::unique_ptr<testing::RedisServer> redis_;
  std::unique_ptr<Cache> cache_;
};

TEST_F(RedisCacheTest, KeyspacesLiveInTheSeedsLogicalDbsUnderTheirPrefix) {
  ASSERT_TRUE(cache_->Set(Keyspace::kLlmResp, "k", "answer", absl::Minutes(1)).ok());
  ASSERT_TRUE(cache_->Set(Keyspace::kProduct, "k", "manga", absl::Minutes(1)).ok());
  ASSERT_TRUE(cache_->Set(Keyspace::kRate, "k", "7", absl::Minutes(1)).ok());
  EXPECT_EQ(RawGet(*redis_, 1, "llmresp:k"), "answer");
  EXPECT_EQ(RawGet(*redis_, 3, "product:k"), "manga");
  EXPECT_EQ(RawGet(*redis_, 0, "rate:k"), "7");
  EXPECT_EQ(RawGet(*redis_, 0, "llmresp:k"), "<nil>");
  // A keyspace without an endpoint stays in process.
  ASSERT_TRUE(cache_->Set(Keyspace::kEmb, "k", "vec", absl::Minutes(1)).ok());
  EXPECT_EQ(RawGet(*redis_, 4, "emb:k"), "<nil>");
  EXPECT_EQ(cache_->Get(Keyspace::kEmb, "k").value_or("?"), "vec");
  EXPECT_EQ(HealthOf(*cache_, Keyspace::kEmb).backend, "memory");
}

TEST_F(RedisCacheTest, KilledRedisFallsBackThenRecoversAfterTheBackoff) {
  ASSERT_TRUE(cache_->Set(Keyspace::kLlmResp, "before", "remote", absl::Minutes(5)).ok());
  ASSERT_TRUE(cache_->Set(Keyspace::kProduct, "p", "remote", absl::Minutes(5)).ok());
  EXPECT_EQ(Up("llmresp"), 1);

  redis_->Kill();

  // The first call after the kill finds the dead connection: a miss from the fallback, not an
  // error, and the endpoint is marked down.
  auto first = cache_->Get(Keyspace::kLlmResp, "before");
  EXPECT_EQ(first.status().code(), absl::StatusCode::kNotFound) << first.status();
  EXPECT_FALSE(HealthOf(*cache_, Keyspace::kLlmResp).up);
  EXPECT_EQ(HealthOf(*cache_, Keyspace::kLlmResp).fallback, "memory");
  EXPECT_EQ(Up("llmresp"), 0);
  // Each (server, db) has its own pool and state: product's (db3) learns on its first use.
  EXPECT_TRUE(HealthOf(*cache_, Keyspace::kProduct).up);

  // memory fallback: writes and reads are served in process meanwhile.
  ASSERT_TRUE(cache_->Set(Keyspace::kLlmResp, "during", "local", absl::Minutes(5)).ok());
  EXPECT_EQ(cache_->Get(Keyspace::kLlmResp, "during").value_or("?"), "local");
  // skip fallback: Unavailable at once, without touching the network.
  const absl::Time t0 = absl::Now();
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(cache_->Get(Keyspace::kProduct, "p").status().code(), absl::StatusCode::kUnavailable);
  }
  EXPECT_LT(absl::Now() - t0, absl::Milliseconds(50));
  EXPECT_FALSE(HealthOf(*cache_, Keyspace::kProduct).up);
  EXPECT_EQ(Up("product"), 0);
  EXPECT_EQ(cache_->Set(Keyspace::kProduct, "p", "x", absl::Minutes(1)).code(),
            absl::StatusCode::kUnavailable);
  // An invalidation cannot complete while Redis holds keys it cannot reach: the caller learns.
  EXPECT_EQ(cache_->DeletePrefix(Keyspace::kLlmResp, "").status().code(),
            absl::StatusCode::kUnavailable);
  ASSERT_TRUE(cache_->Set(Keyspace::kLlmResp, "during", "local", absl::Minutes(5)).ok());
  EXPECT_GT(metrics_
                .GetCounter("mangaassist_cache_fallback_total", "",
                            {{"keyspace", "product"}, {"mode", "skip"}})
                .Value(),
            0);

  ASSERT_TRUE(redis_->Restart().ok());
  // Still within the backoff: no reconnect attempt yet, the fallback keeps serving.
  EXPECT_EQ(cache_->Get(Keyspace::kLlmResp, "during").value_or("?"), "local");
  EXPECT_FALSE(HealthOf(*cache_, Keyspace::kLlmResp).up);

  clock_.Advance(absl::Seconds(2));  // past the longest backoff
  ASSERT_TRUE(cache_->Set(Keyspace::kLlmResp, "after", "remote-again", absl::Minutes(5)).ok());
  EXPECT_TRUE(HealthOf(*cache_, Keyspace::kLlmResp).up);
  EXPECT_EQ(Up("llmresp"), 1);
  EXPECT_EQ(RawGet(*redis_, 1, "llmresp:after"), "remote-again");
  // The outage's local copy is gone (it may have missed invalidations); Redis is empty after
  // the restart.
  EXPECT_EQ(cache_->Get(Keyspace::kLlmResp, "during").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(cache_->Get(Keyspace::kProduct, "p").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(HealthOf(*cache_, Keyspace::kProduct).up);
  ASSERT_TRUE(cache_->Set(Keyspace::kProduct, "p", "fresh", absl::Minutes(1)).ok());
  EXPECT_EQ(cache_->Get(Keyspace::kProduct, "p").value_or("?"), "fresh");
}

TEST_F(RedisCacheTest, RedisDownAtStartIsAnOutageNotAnError) {
  redis_->Kill();
  EXPECT_EQ(cache_->Get(Keyspace::kLlmResp, "k").status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(HealthOf(*cache_, Keyspace::kLlmResp).up);
  EXPECT_GT(
      metrics_.GetCounter("mangaassist_cache_backend_errors_total", "", {{"keyspace", "llmresp"}})
          .Value(),
      0);
}

}  // namespace
}  // namespace mangaassist::cache
