// The read-through product:, reco: and promo: lookups, against the in-process cache and a real
// redis-server (tests/support/redis_server.h), with counting origins: a miss asks the origin
// once, a hit not at all, a stampede once; a new catalog version means new keys; promotions
// start and end on the (manual) clock whatever is cached, and their entries never outlive the
// first end among them; a Redis that is down never fails a lookup.
#include "rag/store_lookup.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/barrier.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "cache/memory_cache.h"
#include "cache/redis_cache.h"
#include "core/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/cache_backends.h"
#include "tests/support/redis_server.h"

namespace mangaassist::rag {
namespace {

using cache::Cache;
using cache::Keyspace;
using ::testing::ElementsAre;

CatalogEntry Row(std::string id, std::string title, std::string title_ja,
                 std::vector<std::string> genres, int popularity) {
  CatalogEntry e;
  e.id = std::move(id);
  e.title = std::move(title);
  e.title_ja = std::move(title_ja);
  e.authors = {"Aoi Mori"};
  e.authors_ja = {"森葵"};
  e.genres = std::move(genres);
  e.demographic = "shonen";
  e.status = "ongoing";
  e.volumes = 12;
  e.start_date = "2019-04";
  e.synopsis = "A \"quoted\" synopsis.";
  e.aliases = {"alias"};
  e.popularity = popularity;
  return e;
}

std::vector<CatalogEntry> Rows() {
  return {Row("ma:1", "Blade Saga", "ブレードサーガ", {"Action", "Fantasy"}, 1),
          Row("ma:2", "Quest Road", "クエストロード", {"Fantasy", "Adventure"}, 2),
          Row("ma:3", "Punch Club", "パンチクラブ", {"Action"}, 3),
          Row("ma:4", "Kitchen Days", "キッチンデイズ", {"Cooking"}, 4)};
}

std::unique_ptr<Catalog> SmallCatalog(std::vector<CatalogEntry> rows = Rows()) {
  auto c = Catalog::FromEntries(std::move(rows));
  EXPECT_TRUE(c.ok()) << c.status();
  return *std::move(c);
}

// The local origin, counting calls; its version can be changed (a catalog reload) and its
// answers slowed down (a remote origin).
class CountingCatalogOrigin final : public CatalogOrigin {
 public:
  explicit CountingCatalogOrigin(const Catalog* catalog)
      : inner_(NewCatalogOrigin(catalog)), version_(inner_->Version()) {}

  std::string Version() const override {
    absl::MutexLock lock(&mu_);
    return version_;
  }
  void SetVersion(std::string v) {
    absl::MutexLock lock(&mu_);
    version_ = std::move(v);
  }
  absl::StatusOr<CatalogEntry> Product(std::string_view id) const override {
    products.fetch_add(1);
    if (delay > absl::ZeroDuration()) absl::SleepFor(delay);
    return inner_->Product(id);
  }
  absl::StatusOr<std::vector<RecoItem>> Recommend(const RecoQuery& q) const override {
    recos.fetch_add(1);
    return inner_->Recommend(q);
  }

  mutable std::atomic<int> products{0};
  mutable std::atomic<int> recos{0};
  absl::Duration delay;

 private:
  std::unique_ptr<CatalogOrigin> inner_;
  mutable absl::Mutex mu_;
  std::string version_ ABSL_GUARDED_BY(mu_);
};

class CountingPromotionOrigin final : public PromotionOrigin {
 public:
  explicit CountingPromotionOrigin(std::vector<Promotion> promotions)
      : set_(PromotionSet::FromPromotions(std::move(promotions))) {}
  std::string Version() const override { return set_->version(); }
  absl::StatusOr<std::vector<Promotion>> Overlapping(absl::Time from,
                                                     absl::Time to) const override {
    calls.fetch_add(1);
    return set_->Overlapping(from, to);
  }
  mutable std::atomic<int> calls{0};

 private:
  std::unique_ptr<PromotionSet> set_;
};

// Forwards to a cache and records the TTL of every Set.
class RecordingCache final : public cache::ForwardingCache {
 public:
  explicit RecordingCache(Cache* inner) : ForwardingCache(inner) {}
  absl::Status Set(Keyspace ks, std::string_view key, std::string_view value,
                   absl::Duration ttl) override {
    {
      absl::MutexLock lock(&mu_);
      ttls_.push_back(ttl);
    }
    return ForwardingCache::Set(ks, key, value, ttl);
  }

  std::vector<absl::Duration> ttls() const {
    absl::MutexLock lock(&mu_);
    return ttls_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<absl::Duration> ttls_ ABSL_GUARDED_BY(mu_);
};

Promotion Promo(std::string id, absl::Time start, absl::Time end) {
  Promotion p;
  p.id = std::move(id);
  p.title_en = "Sale " + p.id;
  p.title_ja = "セール " + p.id;
  p.text_en = "10% off.";
  p.text_ja = "10%オフ。";
  p.start = start;
  p.end = end;
  p.discount_percent = 10;
  return p;
}

std::vector<std::string> Ids(const std::vector<Promotion>& list) {
  std::vector<std::string> ids;
  for (const Promotion& p : list) ids.push_back(p.id);
  return ids;
}

// A bucket start for the 5-minute promo TTL, so expected TTLs are exact.
const absl::Time kT0 = absl::FromUnixSeconds(300 * 6'000'000);

using testing::CacheBackend;

class StoreLookupTest : public ::testing::TestWithParam<CacheBackend> {
 protected:
  static void TearDownTestSuite() { redis_.reset(); }

  void SetUp() override {
    clock_.Set(kT0);
    auto backend = testing::NewTestCache(GetParam(), &clock_, &redis_);
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = *std::move(backend);
    cache_ = std::make_unique<RecordingCache>(backend_.get());
    catalog_ = SmallCatalog();
    origin_ = std::make_unique<CountingCatalogOrigin>(catalog_.get());
  }

  StoreLookup Lookup(const PromotionOrigin* promotions = nullptr) {
    StoreLookupOptions o;
    o.cache = cache_.get();
    o.catalog = origin_.get();
    o.promotions = promotions;
    o.clock = &clock_;
    o.product_ttl = absl::Minutes(10);
    o.reco_ttl = absl::Minutes(10);
    o.promo_ttl = absl::Minutes(5);
    return StoreLookup(o);
  }

  core::ManualClock clock_;
  std::unique_ptr<Cache> backend_;
  std::unique_ptr<RecordingCache> cache_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<CountingCatalogOrigin> origin_;
  static std::unique_ptr<testing::RedisServer> redis_;
};

std::unique_ptr<testing::RedisServer> StoreLookupTest::redis_;

TEST_P(StoreLookupTest, AProductMissAsksTheOriginOnceThenHits) {
  const StoreLookup lookup = Lookup();
  auto first = lookup.Product("ma:2");
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = lookup.Product("ma:2");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(origin_->products.load(), 1);
  for (const CatalogEntry* card : {first->get(), second->get()}) {
    EXPECT_EQ(card->id, "ma:2");
    EXPECT_EQ(card->title, "Quest Road");
    EXPECT_EQ(card->title_ja, "クエストロード");
    EXPECT_THAT(card->authors_ja, ElementsAre("森葵"));
    EXPECT_THAT(card->genres, ElementsAre("Fantasy", "Adventure"));
    EXPECT_EQ(card->volumes, 12);
    EXPECT_EQ(card->chapters, -1);
    EXPECT_EQ(card->synopsis, "A \"quoted\" synopsis.");
    EXPECT_TRUE(card->aliases.empty());  // not part of a card
  }
  EXPECT_EQ(cache_->ttls(), std::vector<absl::Duration>{absl::Minutes(10)});
  // Stored under the documented key, as the catalog's row shape.
  auto raw = backend_->Get(Keyspace::kProduct, lookup.ProductKey("ma:2"));
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_THAT(*raw, ::testing::HasSubstr("\"title_ja\":\"クエストロード\""));
  EXPECT_EQ(lookup.ProductKey("ma:2"), "1:" + CatalogVersion(*catalog_) + ":ma:2");
}

// Decoded cards are reused only for the very bytes they came from: a value rewritten in the
// cache (another replica, an invalidation and refill) is what the next hit returns.
TEST_P(StoreLookupTest, AHitReturnsTheCardOfTheBytesCachedNow) {
  const StoreLookup lookup = Lookup();
  auto first = lookup.Product("ma:2");
  ASSERT_TRUE(first.ok()) << first.status();
  auto again = lookup.Product("ma:2");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(first->get(), again->get());  // same bytes: the same decoded card
  CatalogEntry changed = **first;
  changed.title = "Quest Road (new edition)";
  changed.volumes = 13;
  ASSERT_TRUE(backend_
                  ->Set(Keyspace::kProduct, lookup.ProductKey("ma:2"), EncodeProductCard(changed),
                        absl::Hours(1))
                  .ok());
  auto now = lookup.Product("ma:2");
  ASSERT_TRUE(now.ok()) << now.status();
  EXPECT_EQ((*now)->title, "Quest Road (new edition)");
  EXPECT_EQ((*now)->volumes, 13);
  EXPECT_EQ((*first)->title, "Quest Road");  // a card handed out earlier does not change
  EXPECT_EQ(origin_->products.load(), 1);
}

TEST_P(StoreLookupTest, AnUnknownProductIsNotFoundAndNotCached) {
  const StoreLookup lookup = Lookup();
  EXPECT_EQ(lookup.Product("ma:99").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(lookup.Product("ma:99").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(origin_->products.load(), 2);
}

TEST_P(StoreLookupTest, ANewCatalogVersionMeansNewKeys) {
  const StoreLookup lookup = Lookup();
  ASSERT_TRUE(lookup.Product("ma:1").ok());
  ASSERT_TRUE(lookup.Recommend({RecoKind::kSimilar, "ma:1", 3}).ok());
  const std::string product_key = lookup.ProductKey("ma:1");
  const std::string reco_key = lookup.RecoKey({RecoKind::kSimilar, "ma:1", 3});
  origin_->SetVersion("0123456789abcdef");  // the catalog was reloaded
  EXPECT_NE(lookup.ProductKey("ma:1"), product_key);
  EXPECT_NE(lookup.RecoKey({RecoKind::kSimilar, "ma:1", 3}), reco_key);
  ASSERT_TRUE(lookup.Product("ma:1").ok());
  ASSERT_TRUE(lookup.Recommend({RecoKind::kSimilar, "ma:1", 3}).ok());
  EXPECT_EQ(origin_->products.load(), 2);
  EXPECT_EQ(origin_->recos.load(), 2);
}

TEST_P(StoreLookupTest, RecommendationsAreCachedPerQuery) {
  const StoreLookup lookup = Lookup();
  const RecoQuery similar{RecoKind::kSimilar, "ma:1", 3};
  auto a = lookup.Recommend(similar);
  auto b = lookup.Recommend(similar);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(origin_->recos.load(), 1);
  auto direct = rag::Recommend(*catalog_, similar);
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ(*a, *direct);
  EXPECT_EQ(*b, *direct);
  ASSERT_FALSE(a->empty());
  EXPECT_EQ((*a)[0].title_ja, "パンチクラブ");  // same author, demographic and a genre; popular
  // Another n, seed, kind or genre is another entry.
  ASSERT_TRUE(lookup.Recommend({RecoKind::kSimilar, "ma:1", 2}).ok());
  ASSERT_TRUE(lookup.Recommend({RecoKind::kSimilar, "ma:2", 3}).ok());
  ASSERT_TRUE(lookup.Recommend({RecoKind::kGenre, "Fantasy", 3}).ok());
  ASSERT_TRUE(lookup.Recommend({RecoKind::kGenre, "Action", 3}).ok());
  ASSERT_TRUE(lookup.Recommend({RecoKind::kPopular, "", 3}).ok());
  EXPECT_EQ(origin_->recos.load(), 6);
  ASSERT_TRUE(lookup.Recommend({RecoKind::kGenre, "Fantasy", 3}).ok());
  EXPECT_EQ(origin_->recos.load(), 6);
  EXPECT_EQ(lookup.RecoKey({RecoKind::kGenre, "Slice of Life", 5}),
            "1:" + CatalogVersion(*catalog_) + ":genre:5:Slice of Life");
}

TEST_P(StoreLookupTest, PromotionsStartAndEndOnTheClock) {
  CountingPromotionOrigin promos({Promo("later", kT0 + absl::Minutes(12), kT0 + absl::Minutes(21)),
                                  Promo("now", kT0 - absl::Hours(1), kT0 + absl::Minutes(2))});
  const StoreLookup lookup = Lookup(&promos);
  auto at = [&](absl::Duration since_t0) {
    clock_.Set(kT0 + since_t0);
    auto list = lookup.ActivePromotions();
    EXPECT_TRUE(list.ok()) << list.status();
    return list.ok() ? Ids(*list) : std::vector<std::string>{"<error>"};
  };
  EXPECT_THAT(at(absl::ZeroDuration()), ElementsAre("now"));
  EXPECT_THAT(at(absl::Minutes(2) - absl::Seconds(1)), ElementsAre("now"));
  EXPECT_EQ(promos.calls.load(), 1);                 // the second look was a hit
  EXPECT_THAT(at(absl::Minutes(2)), ElementsAre());  // ended, whatever the cache still holds
  EXPECT_THAT(at(absl::Minutes(12) - absl::Seconds(1)), ElementsAre());
  EXPECT_THAT(at(absl::Minutes(12)), ElementsAre("later"));  // started mid-bucket
  EXPECT_THAT(at(absl::Minutes(20) + absl::Seconds(59)), ElementsAre("later"));
  EXPECT_THAT(at(absl::Minutes(21)), ElementsAre());
}

// The TTL the lookup stores an entry with is capped by the first end among its promotions and
// by the end of its time bucket. Each step is in a new bucket (a new key), so every step stores.
TEST_P(StoreLookupTest, APromotionListNeverOutlivesItsFirstEnd) {
  const absl::Time long_end = kT0 + absl::Hours(5) - absl::Seconds(100);
  CountingPromotionOrigin promos({Promo("short", kT0 - absl::Hours(1), kT0 + absl::Seconds(90)),
                                  Promo("long", kT0 - absl::Hours(1), long_end)});
  const StoreLookup lookup = Lookup(&promos);
  auto first = lookup.ActivePromotions();
  ASSERT_TRUE(first.ok());
  EXPECT_THAT(Ids(*first), ElementsAre("short", "long"));
  clock_.Set(kT0 + absl::Seconds(400));  // `short` is over; this bucket ends at +600 s
  auto second = lookup.ActivePromotions();
  ASSERT_TRUE(second.ok());
  EXPECT_THAT(Ids(*second), ElementsAre("long"));
  clock_.Set(long_end - absl::Seconds(50));  // `long` ends in 50 s, its bucket in 150 s
  ASSERT_TRUE(lookup.ActivePromotions().ok());
  EXPECT_THAT(cache_->ttls(),
              ElementsAre(absl::Seconds(90), absl::Seconds(200), absl::Seconds(50)));
  EXPECT_EQ(promos.calls.load(), 3);
  EXPECT_EQ(lookup.PromoKey(kT0), "1:" + promos.Version() + ":300:6000000");
  EXPECT_EQ(lookup.PromoKey(kT0 + absl::Seconds(299)), lookup.PromoKey(kT0));
  EXPECT_NE(lookup.PromoKey(kT0 + absl::Seconds(300)), lookup.PromoKey(kT0));
}

TEST_P(StoreLookupTest, ANewPromotionsFileMeansNewKeys) {
  CountingPromotionOrigin a({Promo("a", kT0 - absl::Hours(1), kT0 + absl::Hours(1))});
  CountingPromotionOrigin b({Promo("b", kT0 - absl::Hours(1), kT0 + absl::Hours(1))});
  EXPECT_NE(Lookup(&a).PromoKey(kT0), Lookup(&b).PromoKey(kT0));
  auto from_a = Lookup(&a).ActivePromotions();
  auto from_b = Lookup(&b).ActivePromotions();
  ASSERT_TRUE(from_a.ok() && from_b.ok());
  EXPECT_THAT(Ids(*from_a), ElementsAre("a"));
  EXPECT_THAT(Ids(*from_b), ElementsAre("b"));
}

TEST_P(StoreLookupTest, NoPromotionOriginMeansNoPromotions) {
  auto list = Lookup().ActivePromotions();
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
}

TEST_P(StoreLookupTest, AForeignValueIsReplacedFromTheOrigin) {
  const StoreLookup lookup = Lookup();
  ASSERT_TRUE(
      backend_->Set(Keyspace::kProduct, lookup.ProductKey("ma:3"), "{\"x\":", absl::Hours(1)).ok());
  ASSERT_TRUE(
      backend_
          ->Set(Keyspace::kReco, lookup.RecoKey({RecoKind::kPopular, "", 2}), "[1]", absl::Hours(1))
          .ok());
  auto card = lookup.Product("ma:3");
  ASSERT_TRUE(card.ok()) << card.status();
  EXPECT_EQ((*card)->title, "Punch Club");
  auto reco = lookup.Recommend({RecoKind::kPopular, "", 2});
  ASSERT_TRUE(reco.ok()) << reco.status();
  EXPECT_EQ(reco->size(), 2u);
  EXPECT_TRUE(
      DecodeProductCard(*backend_->Get(Keyspace::kProduct, lookup.ProductKey("ma:3"))).ok());
  ASSERT_TRUE(lookup.Product("ma:3").ok());
  EXPECT_EQ(origin_->products.load(), 1);
}

// Many threads miss the same card at once: one origin computation, everyone gets the card.
TEST_P(StoreLookupTest, AStampedeAsksTheOriginOnce) {
  constexpr int kThreads = 200;
  origin_->delay = absl::Milliseconds(50);  // a slow origin keeps the flight open
  const StoreLookup lookup = Lookup();
  std::atomic<int> wrong{0};
  absl::Barrier* start = new absl::Barrier(kThreads);  // deleted by the last thread through it
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, start] {
      if (start->Block()) delete start;
      auto card = lookup.Product("ma:4");
      if (!card.ok() || (*card)->title != "Kitchen Days") wrong.fetch_add(1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(origin_->products.load(), 1);
  EXPECT_EQ(wrong.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(AllBackends, StoreLookupTest,
                         ::testing::Values(CacheBackend::kMemory, CacheBackend::kRedis),
                         testing::CacheBackendName);

// --- what does not depend on the backend ---------------------------------------------------

TEST(CatalogVersionTest, FollowsEveryRow) {
  auto a = SmallCatalog();
  auto same = SmallCatalog();
  std::vector<CatalogEntry> rows = Rows();
  rows[3].popularity = 5;  // only a rank moves: recommendations may change
  auto b = SmallCatalog(std::move(rows));
  rows = Rows();
  rows[0].synopsis += " Revised.";
  auto c = SmallCatalog(std::move(rows));
  EXPECT_EQ(CatalogVersion(*a), CatalogVersion(*same));
  EXPECT_EQ(CatalogVersion(*a).size(), 16u);
  EXPECT_NE(CatalogVersion(*a), CatalogVersion(*b));
  EXPECT_NE(CatalogVersion(*a), CatalogVersion(*c));
  EXPECT_NE(CatalogVersion(*b), CatalogVersion(*c));
}

TEST(StoreLookupCodecTest, ValuesRoundTrip) {
  Promotion p = Promo("p", absl::FromUnixSeconds(100), absl::FromUnixSeconds(200));
  p.genres = {"Fantasy"};
  p.title_ids = {"ma:1"};
  auto promos = DecodePromotions(EncodePromotions({p}));
  ASSERT_TRUE(promos.ok()) << promos.status();
  ASSERT_EQ(promos->size(), 1u);
  EXPECT_EQ((*promos)[0], p);
  const std::vector<RecoItem> items = {{"ma:1", "A \\ B", "「A」"}, {"ma:2", "", "B"}};
  auto reco = DecodeRecoItems(EncodeRecoItems(items));
  ASSERT_TRUE(reco.ok()) << reco.status();
  EXPECT_EQ(*reco, items);
  for (const char* bad : {"", "{}", "[[\"a\",\"b\"]]", "[{\"id\":1}]", "nope"}) {
    EXPECT_FALSE(DecodeRecoItems(bad).ok()) << bad;
    EXPECT_FALSE(DecodePromotions(bad).ok()) << bad;
    EXPECT_FALSE(DecodeProductCard(bad).ok()) << bad;
  }
}

// Redis is down: every lookup still answers, from the origin (fallback `skip`) or from this
// process's copy (fallback `memory`).
class StoreLookupOutageTest : public ::testing::TestWithParam<cache::Fallback> {};

TEST_P(StoreLookupOutageTest, ARedisOutageNeverFailsALookup) {
  auto redis = testing::RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  core::ManualClock clock(kT0);
  cache::RedisCacheOptions o;
  for (Keyspace ks : {Keyspace::kProduct, Keyspace::kReco, Keyspace::kPromo}) {
    o.endpoints[static_cast<size_t>(ks)] =
        cache::RedisEndpoint{(*redis)->host(), (*redis)->port(), cache::Info(ks).db, ""};
    o.fallback[static_cast<size_t>(ks)] = GetParam();
  }
  o.command_timeout = absl::Milliseconds(200);
  o.clock = &clock;
  cache::MemoryCacheOptions local;
  local.clock = &clock;
  auto tier = cache::NewRedisCache(o, std::make_unique<cache::MemoryCache>(local));
  auto catalog = SmallCatalog();
  CountingCatalogOrigin origin(catalog.get());
  CountingPromotionOrigin promos({Promo("p", kT0 - absl::Hours(1), kT0 + absl::Hours(1))});
  StoreLookupOptions lo;
  lo.cache = tier.get();
  lo.catalog = &origin;
  lo.promotions = &promos;
  lo.clock = &clock;
  const StoreLookup lookup(lo);
  (*redis)->Kill();

  for (int i = 0; i < 2; ++i) {
    auto card = lookup.Product("ma:1");
    ASSERT_TRUE(card.ok()) << card.status();
    EXPECT_EQ((*card)->title, "Blade Saga");
    auto reco = lookup.Recommend({RecoKind::kSimilar, "ma:1", 2});
    ASSERT_TRUE(reco.ok()) << reco.status();
    EXPECT_EQ(reco->size(), 2u);
    auto list = lookup.ActivePromotions();
    ASSERT_TRUE(list.ok()) << list.status();
    EXPECT_THAT(Ids(*list), ElementsAre("p"));
  }
  EXPECT_FALSE(tier->Health()[static_cast<size_t>(Keyspace::kProduct)].up);
  // `skip` stores nothing while Redis is down; `memory` keeps a local copy.
  const int expected = GetParam() == cache::Fallback::kSkip ? 2 : 1;
  EXPECT_EQ(origin.products.load(), expected);
  EXPECT_EQ(origin.recos.load(), expected);
  EXPECT_EQ(promos.calls.load(), expected);
}

INSTANTIATE_TEST_SUITE_P(Fallbacks, StoreLookupOutageTest,
                         ::testing::Values(cache::Fallback::kSkip, cache::Fallback::kMemory),
                         [](const ::testing::TestParamInfo<cache::Fallback>& info) {
                           return info.param == cache::Fallback::kSkip ? "Skip" : "Memory";
                         });

}  // namespace
}  // namespace mangaassist::rag
