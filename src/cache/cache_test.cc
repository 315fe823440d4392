// The one suite every Cache backend passes: the in-process cache on a manual clock and Redis
// (a real redis-server started by tests/support/redis_server.h, through RedisCache with every
// keyspace on it). Time moves with AdvanceTime(): the manual clock, plus real sleep for Redis,
// whose TTLs run on the server's clock.
#include "cache/cache.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/barrier.h"
#include "absl/time/clock.h"
#include "cache/memory_cache.h"
#include "cache/redis_cache.h"
#include "core/clock.h"
#include "gtest/gtest.h"
#include "tests/support/cache_backends.h"
#include "tests/support/redis_server.h"

namespace mangaassist::cache {
namespace {

using testing::CacheBackend;

class CacheTest : public ::testing::TestWithParam<CacheBackend> {
 protected:
  static void TearDownTestSuite() { redis_.reset(); }

  void SetUp() override {
    auto cache = testing::NewTestCache(GetParam(), &clock_, &redis_);
    ASSERT_TRUE(cache.ok()) << cache.status();
    cache_ = *std::move(cache);
  }

  void AdvanceTime(absl::Duration d) {
    clock_.Advance(d);
    if (GetParam() == CacheBackend::kRedis) absl::SleepFor(d);
  }

  core::ManualClock clock_;
  std::unique_ptr<Cache> cache_;
  static std::unique_ptr<testing::RedisServer> redis_;
};

std::unique_ptr<testing::RedisServer> CacheTest::redis_;

TEST_P(CacheTest, MissIsNotFound) {
  auto r = cache_->Get(Keyspace::kLlmResp, "absent");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound) << r.status();
}

TEST_P(CacheTest, SetThenGetRoundTripsArbitraryBytes) {
  const std::string binary("a\0b\xff\xfe z", 7);
  ASSERT_TRUE(cache_->Set(Keyspace::kEmb, "v1", binary, absl::Minutes(5)).ok());
  ASSERT_TRUE(cache_->Set(Keyspace::kEmb, "empty", "", absl::Minutes(5)).ok());
  auto r = cache_->Get(Keyspace::kEmb, "v1");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, binary);
  auto e = cache_->Get(Keyspace::kEmb, "empty");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(*e, "");
}

TEST_P(CacheTest, SetReplacesTheValue) {
  ASSERT_TRUE(cache_->Set(Keyspace::kProduct, "isbn:1", "old", absl::Minutes(5)).ok());
  ASSERT_TRUE(cache_->Set(Keyspace::kProduct, "isbn:1", "new", absl::Minutes(5)).ok());
  EXPECT_EQ(cache_->Get(Keyspace::kProduct, "isbn:1").value_or("?"), "new");
}

TEST_P(CacheTest, DeleteRemovesOnlyThatKey) {
  ASSERT_TRUE(cache_->Set(Keyspace::kPromo, "a", "1", absl::Minutes(5)).ok());
  ASSERT_TRUE(cache_->Set(Keyspace::kPromo, "b", "2", absl::Minutes(5)).ok());
  ASSERT_TRUE(cache_->Delete(Keyspace::kPromo, "a").ok());
  ASSERT_TRUE(cache_->Delete(Keyspace::kPromo, "never-set").ok());
  EXPECT_EQ(cache_->Get(Keyspace::kPromo, "a").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(cache_->Get(Keyspace::kPromo, "b").value_or("?"), "2");
}

TEST_P(CacheTest, KeyspacesAreSeparate) {
  ASSERT_TRUE(cache_->Set(Keyspace::kLlmResp, "k", "answer", absl::Minutes(5)).ok());
  ASSERT_TRUE(cache_->Set(Keyspace::kReco, "k", "reco", absl::Minutes(5)).ok());
  EXPECT_EQ(cache_->Get(Keyspace::kLlmResp, "k").value_or("?"), "answer");
  EXPECT_EQ(cache_->Get(Keyspace::kReco, "k").value_or("?"), "reco");
  EXPECT_EQ(cache_->Get(Keyspace::kIntentSess, "k").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(CacheTest, GetManyAnswersEveryKeyInOrder) {
  ASSERT_TRUE(cache_->Set(Keyspace::kEmb, "x", "vx", absl::Minutes(5)).ok());
  ASSERT_TRUE(cache_->Set(Keyspace::kEmb, "z", "vz", absl::Minutes(5)).ok());
  auto r = cache_->GetMany(Keyspace::kEmb, {"x", "y", "z", "x"});
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].value_or("?"), "vx");
  EXPECT_EQ(r[1].status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r[2].value_or("?"), "vz");
  EXPECT_EQ(r[3].value_or("?"), "vx");
  EXPECT_TRUE(cache_->GetMany(Keyspace::kEmb, {}).empty());
}

TEST_P(CacheTest, EntriesExpireAfterTheirTtl) {
  ASSERT_TRUE(cache_->Set(Keyspace::kIntentSess, "s1", "faq", absl::Seconds(1)).ok());
  ASSERT_TRUE(cache_->Set(Keyspace::kIntentSess, "s2", "faq", absl::Hours(1)).ok());
  AdvanceTime(absl::Milliseconds(300));
  EXPECT_EQ(cache_->Get(Keyspace::kIntentSess, "s1").value_or("?"), "faq");
  AdvanceTime(absl::Milliseconds(800));
  EXPECT_EQ(cache_->Get(Keyspace::kIntentSess, "s1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(cache_->Get(Keyspace::kIntentSess, "s2").value_or("?"), "faq");
}

TEST_P(CacheTest, NonPositiveTtlIsRefused) {
  EXPECT_EQ(cache_->Set(Keyspace::kRate, "k", "v", absl::ZeroDuration()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache_->Set(Keyspace::kRate, "k", "v", -absl::Seconds(1)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache_->Get(Keyspace::kRate, "k").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(CacheTest, DeletePrefixRemovesExactlyTheMatchingKeys) {
  for (const char* k : {"m1:a", "m1:b", "m1*:c", "m2:a", "m1"}) {
    ASSERT_TRUE(cache_->Set(Keyspace::kLlmResp, k, "v", absl::Minutes(5)).ok());
  }
  ASSERT_TRUE(cache_->Set(Keyspace::kProduct, "m1:a", "v", absl::Minutes(5)).ok());
  auto n = cache_->DeletePrefix(Keyspace::kLlmResp, "m1:");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 2);
  // A glob character in the prefix is literal, not a wildcard.
  auto star = cache_->DeletePrefix(Keyspace::kLlmResp, "m1*");
  ASSERT_TRUE(star.ok()) << star.status();
  EXPECT_EQ(*star, 1);
  EXPECT_TRUE(cache_->Get(Keyspace::kLlmResp, "m2:a").ok());
  EXPECT_TRUE(cache_->Get(Keyspace::kLlmResp, "m1").ok());
  EXPECT_TRUE(cache_->Get(Keyspace::kProduct, "m1:a").ok());  // other keyspace untouched
  auto all = cache_->DeletePrefix(Keyspace::kLlmResp, "");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, 2);
}

TEST_P(CacheTest, GetOrComputeComputesOnMissThenServesTheCachedValue) {
  int calls = 0;
  auto compute = [&]() -> absl::StatusOr<std::string> { return "v" + std::to_string(++calls); };
  EXPECT_EQ(cache_->GetOrCompute(Keyspace::kReco, "u1", absl::Minutes(1), compute).value_or("?"),
            "v1");
  EXPECT_EQ(cache_->GetOrCompute(Keyspace::kReco, "u1", absl::Minutes(1), compute).value_or("?"),
            "v1");
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(cache_->Get(Keyspace::kReco, "u1").value_or("?"), "v1");
}

TEST_P(CacheTest, GetOrComputeNeverStoresErrors) {
  int calls = 0;
  auto failing = [&]() -> absl::StatusOr<std::string> {
    ++calls;
    return absl::UnavailableError("catalog down");
  };
  EXPECT_EQ(
      cache_->GetOrCompute(Keyspace::kProduct, "p", absl::Minutes(1), failing).status().code(),
      absl::StatusCode::kUnavailable);
  EXPECT_EQ(
      cache_->GetOrCompute(Keyspace::kProduct, "p", absl::Minutes(1), failing).status().code(),
      absl::StatusCode::kUnavailable);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(cache_->Get(Keyspace::kProduct, "p").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(CacheTest, GetOrComputeWithTtlKeepsTheValueForTheTtlItComputed) {
  int calls = 0;
  auto compute = [&]() -> absl::StatusOr<Cache::Computed> {
    ++calls;
    return Cache::Computed{"v" + std::to_string(calls), absl::Seconds(1)};
  };
  EXPECT_EQ(cache_->GetOrComputeWithTtl(Keyspace::kPromo, "p", compute).value_or("?"), "v1");
  AdvanceTime(absl::Milliseconds(300));
  EXPECT_EQ(cache_->GetOrComputeWithTtl(Keyspace::kPromo, "p", compute).value_or("?"), "v1");
  AdvanceTime(absl::Milliseconds(800));  // past the computed second, long before any default
  EXPECT_EQ(cache_->GetOrComputeWithTtl(Keyspace::kPromo, "p", compute).value_or("?"), "v2");
  EXPECT_EQ(calls, 2);
}

TEST_P(CacheTest, GetOrComputeWithTtlStoresNothingForANonPositiveTtl) {
  int calls = 0;
  auto compute = [&]() -> absl::StatusOr<Cache::Computed> {
    ++calls;
    return Cache::Computed{"now only", absl::ZeroDuration()};
  };
  EXPECT_EQ(cache_->GetOrComputeWithTtl(Keyspace::kPromo, "q", compute).value_or("?"), "now only");
  EXPECT_EQ(cache_->GetOrComputeWithTtl(Keyspace::kPromo, "q", compute).value_or("?"), "now only");
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(cache_->Get(Keyspace::kPromo, "q").status().code(), absl::StatusCode::kNotFound);
}

// 1,000 concurrent misses on one key: exactly one computation, everyone gets its value.
TEST_P(CacheTest, StampedeOfAThousandMissesComputesOnce) {
  constexpr int kThreads = 1000;
  std::atomic<int> computations{0};
  std::atomic<int> wrong{0};
  absl::Barrier* start = new absl::Barrier(kThreads);  // deleted by the last thread through it
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, start] {
      if (start->Block()) delete start;
      auto r = cache_->GetOrCompute(Keyspace::kLlmResp, "hot", absl::Minutes(5),
                                    [&]() -> absl::StatusOr<std::string> {
                                      computations.fetch_add(1);
                                      absl::SleepFor(absl::Milliseconds(50));  // a slow origin
                                      return std::string("the answer");
                                    });
      if (!r.ok() || *r != "the answer") wrong.fetch_add(1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(computations.load(), 1);
  EXPECT_EQ(wrong.load(), 0);
}

TEST_P(CacheTest, HealthNamesEveryKeyspaceAndItsBackend) {
  std::vector<KeyspaceHealth> h = cache_->Health();
  ASSERT_EQ(h.size(), kKeyspaceCount);
  for (size_t i = 0; i < h.size(); ++i) {
    EXPECT_EQ(h[i].keyspace, static_cast<Keyspace>(i));
    EXPECT_TRUE(h[i].up);
    if (GetParam() == CacheBackend::kMemory) {
      EXPECT_EQ(h[i].backend, "memory");
    } else {
      EXPECT_EQ(h[i].backend, "redis://127.0.0.1:" + std::to_string(redis_->port()) + "/" +
                                  std::to_string(Info(h[i].keyspace).db));
    }
  }
}

TEST_P(CacheTest, AddStoresOnlyWhenAbsent) {
  auto first = cache_->Add(Keyspace::kCost, "idem:k", "one", absl::Seconds(1));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(*first);
  auto second = cache_->Add(Keyspace::kCost, "idem:k", "two", absl::Seconds(1));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(*second);
  EXPECT_EQ(*cache_->Get(Keyspace::kCost, "idem:k"), "one");
  // Once it expires the key is free again.
  AdvanceTime(absl::Milliseconds(1100));
  auto third = cache_->Add(Keyspace::kCost, "idem:k", "three", absl::Seconds(1));
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE(*third);
  EXPECT_EQ(*cache_->Get(Keyspace::kCost, "idem:k"), "three");
}

INSTANTIATE_TEST_SUITE_P(AllBackends, CacheTest,
                         ::testing::Values(CacheBackend::kMemory, CacheBackend::kRedis),
                         testing::CacheBackendName);

}  // namespace
}  // namespace mangaassist::cache
