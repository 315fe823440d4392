// The configured tier: config names agree with the keyspaces, URLs route keyspaces to Redis (or
// not), and lookups are counted per keyspace and result.
#include "cache/cache_tier.h"

#include <algorithm>
#include <string>

#include "core/config.h"
#include "gtest/gtest.h"

namespace mangaassist::cache {
namespace {

TEST(CacheTierTest, ConfigAcceptsExactlyTheKeyspaceNames) {
  std::string yaml = "cache:\n  keyspaces:\n";
  for (Keyspace ks : AllKeyspaces()) {
    yaml += "    " + std::string(KeyspaceName(ks)) + ": {max_bytes: 1MiB}\n";
  }
  auto ok = core::LoadConfigString(yaml, "t.yaml");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->cache.keyspaces.size(), kKeyspaceCount);
  auto bad = core::LoadConfigString("cache:\n  keyspaces:\n    sessions: {}\n", "t.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("t.yaml:3: cache.keyspaces.sessions: unknown keyspace"),
            std::string::npos)
      << bad.status();
}

TEST(CacheTierTest, WithoutUrlsEverythingIsInProcess) {
  core::Config cfg = core::DefaultConfig();
  core::ManualClock clock;
  auto tier = NewCacheTier(cfg.cache, &clock, nullptr);
  ASSERT_TRUE(tier.ok()) << tier.status();
  for (const KeyspaceHealth& h : (*tier)->Health()) EXPECT_EQ(h.backend, "memory");
}

TEST(CacheTierTest, KeyspaceUrlsOverrideTheDefaultUrlAndKeepTheSeedDb) {
  auto cfg = core::LoadConfigString(R"(
cache:
  redis_url: redis://127.0.0.1:1
  keyspaces:
    llmresp: {url: "redis://127.0.0.1:2", fallback: skip}
    emb: {url: "redis://127.0.0.1:3/9"}
)",
                                    "t.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  core::ManualClock clock;
  auto tier = NewCacheTier(cfg->cache, &clock, nullptr);
  ASSERT_TRUE(tier.ok()) << tier.status();
  auto h = (*tier)->Health();
  EXPECT_EQ(h[static_cast<size_t>(Keyspace::kLlmResp)].backend, "redis://127.0.0.1:2/1");
  EXPECT_EQ(h[static_cast<size_t>(Keyspace::kLlmResp)].fallback, "skip");
  EXPECT_EQ(h[static_cast<size_t>(Keyspace::kEmb)].backend, "redis://127.0.0.1:3/9");
  EXPECT_EQ(h[static_cast<size_t>(Keyspace::kRate)].backend, "redis://127.0.0.1:1/0");
  EXPECT_EQ(h[static_cast<size_t>(Keyspace::kIntentSess)].backend, "redis://127.0.0.1:1/2");
  EXPECT_EQ(h[static_cast<size_t>(Keyspace::kRate)].fallback, "memory");
}

TEST(CacheTierTest, BadUrlsAndFallbacksFailTheConfigLoad) {
  EXPECT_FALSE(core::LoadConfigString("cache:\n  redis_url: http://x\n", "t").ok());
  EXPECT_FALSE(
      core::LoadConfigString("cache:\n  keyspaces:\n    emb: {fallback: retry}\n", "t").ok());
  EXPECT_FALSE(core::LoadConfigString("admin:\n  keys_sha256: [abc]\n", "t").ok());
  auto cfg = core::LoadConfigString("cache:\n  redis_url: redis://h:notaport\n", "t");
  ASSERT_TRUE(cfg.ok());  // the scheme is checked at load, the rest when the tier is built
  core::ManualClock clock;
  auto tier = NewCacheTier(cfg->cache, &clock, nullptr);
  ASSERT_FALSE(tier.ok());
  EXPECT_NE(tier.status().message().find("cache.keyspaces.llmresp.url"), std::string::npos);
}

TEST(CacheTierTest, LookupsAreCountedPerKeyspaceAndResult) {
  core::Config cfg = core::DefaultConfig();
  core::ManualClock clock;
  core::Registry metrics;
  auto tier = NewCacheTier(cfg.cache, &clock, &metrics);
  ASSERT_TRUE(tier.ok());
  Cache& c = **tier;
  ASSERT_TRUE(c.Set(Keyspace::kLlmResp, "a", "1", absl::Minutes(1)).ok());
  (void)c.Get(Keyspace::kLlmResp, "a");
  (void)c.Get(Keyspace::kLlmResp, "b");
  (void)c.GetMany(Keyspace::kLlmResp, {"a", "a", "c"});
  auto count = [&](const char* ks, const char* result) {
    return metrics
        .GetCounter("mangaassist_cache_requests_total", "", {{"keyspace", ks}, {"result", result}})
        .Value();
  };
  EXPECT_EQ(count("llmresp", "hit"), 3);
  EXPECT_EQ(count("llmresp", "miss"), 2);
  EXPECT_EQ(count("emb", "hit"), 0);
  EXPECT_NE(metrics.RenderText().find(
                "mangaassist_cache_requests_total{keyspace=\"llmresp\",result=\"hit\"} 3"),
            std::string::npos);
}

// GetOrCompute looks twice on a miss (before and inside the flight); it is one lookup.
TEST(CacheTierTest, GetOrComputeCountsOneMissThenOneHit) {
  core::Config cfg = core::DefaultConfig();
  core::ManualClock clock;
  core::Registry metrics;
  auto tier = NewCacheTier(cfg.cache, &clock, &metrics);
  ASSERT_TRUE(tier.ok());
  auto compute = []() -> absl::StatusOr<std::string> { return std::string("card"); };
  ASSERT_TRUE((*tier)->GetOrCompute(Keyspace::kProduct, "k", absl::Minutes(1), compute).ok());
  ASSERT_TRUE((*tier)->GetOrCompute(Keyspace::kProduct, "k", absl::Minutes(1), compute).ok());
  auto count = [&](const char* result) {
    return metrics
        .GetCounter("mangaassist_cache_requests_total", "",
                    {{"keyspace", "product"}, {"result", result}})
        .Value();
  };
  EXPECT_EQ(count("miss"), 1);
  EXPECT_EQ(count("hit"), 1);
}

}  // namespace
}  // namespace mangaassist::cache

namespace mangaassist::cache {
namespace {

TEST(CacheTierTest, TheShippedConfigLoadsAndRunsTheResponseCache) {
  auto cfg = core::LoadConfigFile(std::string(MANGAASSIST_SOURCE_DIR) + "/config/mangaassist.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  const auto& stages = cfg->pipeline.stages;
  auto at = [&](const char* s) {
    return std::find(stages.begin(), stages.end(), s) - stages.begin();
  };
  EXPECT_LT(at("normalize"), at("cache"));
  EXPECT_LT(at("cache"), at("call"));
  EXPECT_LT(at("call"), at("cache_fill"));
  EXPECT_EQ(cfg->cache.keyspaces.size(), kKeyspaceCount);
  EXPECT_EQ(cfg->cache.Keyspace("rate").fallback, "skip");
  EXPECT_EQ(cfg->cache.response.ttl_by_intent.at("promotions"), absl::Minutes(10));
  EXPECT_TRUE(cfg->admin.keys_sha256.empty());
  core::ManualClock clock;
  auto tier = NewCacheTier(cfg->cache, &clock, nullptr);
  ASSERT_TRUE(tier.ok()) << tier.status();
}

}  // namespace
}  // namespace mangaassist::cache
