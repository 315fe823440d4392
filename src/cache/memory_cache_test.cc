// What only the in-process backend promises: a byte budget per keyspace with LRU eviction,
// expiry on the injected clock, and its statistics.
#include "cache/memory_cache.h"

#include <string>

#include "core/clock.h"
#include "gtest/gtest.h"

namespace mangaassist::cache {
namespace {

MemoryCacheOptions OneShard(core::Clock* clock, size_t budget) {
  MemoryCacheOptions o;
  o.clock = clock;
  o.shards = 1;
  o.max_bytes.fill(budget);
  return o;
}

// Every entry of these tests is charged the same: 2-byte key, 10-byte value, the overhead.
constexpr size_t kCharge = 2 + 10 + MemoryCache::kEntryOverhead;

std::string Key(int i) { return "k" + std::to_string(i); }

TEST(MemoryCacheTest, BudgetEvictsTheLeastRecentlyUsedEntry) {
  core::ManualClock clock;
  MemoryCache cache(OneShard(&clock, 5 * kCharge));
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(cache.Set(Keyspace::kEmb, Key(i), "0123456789", absl::Hours(1)).ok());
  ASSERT_TRUE(cache.Get(Keyspace::kEmb, Key(0)).ok());  // k0 is now the most recent
  ASSERT_TRUE(cache.Set(Keyspace::kEmb, Key(5), "0123456789", absl::Hours(1)).ok());
  EXPECT_TRUE(cache.Get(Keyspace::kEmb, Key(0)).ok());
  EXPECT_EQ(cache.Get(Keyspace::kEmb, Key(1)).status().code(), absl::StatusCode::kNotFound);
  for (int i = 2; i <= 5; ++i) EXPECT_TRUE(cache.Get(Keyspace::kEmb, Key(i)).ok()) << i;
  MemoryStats st = cache.Stats(Keyspace::kEmb);
  EXPECT_EQ(st.entries, 5);
  EXPECT_EQ(st.bytes, static_cast<int64_t>(5 * kCharge));
  EXPECT_EQ(st.evictions, 1);
}

TEST(MemoryCacheTest, BudgetsArePerKeyspace) {
  core::ManualClock clock;
  MemoryCache cache(OneShard(&clock, 2 * kCharge));
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(cache.Set(Keyspace::kProduct, Key(i), "0123456789", absl::Hours(1)).ok());
    ASSERT_TRUE(cache.Set(Keyspace::kReco, Key(i), "0123456789", absl::Hours(1)).ok());
  }
  EXPECT_EQ(cache.Stats(Keyspace::kProduct).evictions, 0);
  EXPECT_EQ(cache.Stats(Keyspace::kReco).evictions, 0);
  ASSERT_TRUE(cache.Set(Keyspace::kReco, Key(9), "0123456789", absl::Hours(1)).ok());
  EXPECT_EQ(cache.Stats(Keyspace::kReco).evictions, 1);
  EXPECT_EQ(cache.Stats(Keyspace::kProduct).entries, 2);
}

TEST(MemoryCacheTest, AValueLargerThanTheBudgetIsRefusedAndDropsTheOldOne) {
  core::ManualClock clock;
  MemoryCache cache(OneShard(&clock, 4096));
  ASSERT_TRUE(cache.Set(Keyspace::kLlmResp, "k", "small", absl::Hours(1)).ok());
  EXPECT_EQ(cache.Set(Keyspace::kLlmResp, "k", std::string(8192, 'x'), absl::Hours(1)).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(cache.Get(Keyspace::kLlmResp, "k").status().code(), absl::StatusCode::kNotFound);
}

TEST(MemoryCacheTest, ExpiryFollowsTheInjectedClockToTheNanosecond) {
  core::ManualClock clock;
  MemoryCache cache(OneShard(&clock, 1 << 20));
  ASSERT_TRUE(cache.Set(Keyspace::kRate, "k", "v", absl::Seconds(10)).ok());
  ASSERT_TRUE(cache.Set(Keyspace::kRate, "forever", "v", absl::InfiniteDuration()).ok());
  clock.Advance(absl::Seconds(10) - absl::Nanoseconds(1));
  EXPECT_TRUE(cache.Get(Keyspace::kRate, "k").ok());
  clock.Advance(absl::Nanoseconds(1));
  EXPECT_EQ(cache.Get(Keyspace::kRate, "k").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(cache.Stats(Keyspace::kRate).expirations, 1);
  clock.Advance(absl::Hours(24 * 365 * 10));
  EXPECT_TRUE(cache.Get(Keyspace::kRate, "forever").ok());
}

// Expired entries give their memory back as new entries arrive, long before the budget would
// force them out: what the cache holds follows the live entries, not everything ever stored.
TEST(MemoryCacheTest, ExpiredEntriesAreFreedByLaterStoresWithoutBudgetPressure) {
  core::ManualClock clock;
  MemoryCache cache(OneShard(&clock, 1 << 30));
  for (int i = 0; i < 1000; ++i)
    ASSERT_TRUE(cache.Set(Keyspace::kLlmResp, Key(i), "0123456789", absl::Minutes(1)).ok());
  ASSERT_TRUE(cache.Set(Keyspace::kLlmResp, "kept", "0123456789", absl::Hours(1)).ok());
  clock.Advance(absl::Minutes(2));
  // 1,000 expired entries; each store frees up to kSweepStepsPerStore of them.
  for (int i = 0; i < 300; ++i)
    ASSERT_TRUE(cache.Set(Keyspace::kLlmResp, "n" + std::to_string(i), "0", absl::Hours(1)).ok());
  MemoryStats st = cache.Stats(Keyspace::kLlmResp);
  EXPECT_EQ(st.entries, 301);
  EXPECT_EQ(st.expirations, 1000);
  EXPECT_EQ(st.evictions, 0);
  EXPECT_TRUE(cache.Get(Keyspace::kLlmResp, "kept").ok());
  // A full pass later the hand starts again at the tail and keeps freeing what expires.
  clock.Advance(absl::Hours(2));
  for (int i = 0; i < 200; ++i)
    ASSERT_TRUE(cache.Set(Keyspace::kLlmResp, "m" + std::to_string(i), "0", absl::Hours(1)).ok());
  st = cache.Stats(Keyspace::kLlmResp);
  EXPECT_EQ(st.entries, 200);
  EXPECT_EQ(st.expirations, 1301);
}

TEST(MemoryCacheTest, ReplacingAnEntryKeepsTheByteCountExact) {
  core::ManualClock clock;
  MemoryCache cache(OneShard(&clock, 1 << 20));
  ASSERT_TRUE(cache.Set(Keyspace::kCost, "k", std::string(100, 'a'), absl::Hours(1)).ok());
  ASSERT_TRUE(cache.Set(Keyspace::kCost, "k", std::string(10, 'b'), absl::Hours(1)).ok());
  EXPECT_EQ(cache.Stats(Keyspace::kCost).bytes,
            static_cast<int64_t>(1 + 10 + MemoryCache::kEntryOverhead));
  ASSERT_TRUE(cache.Delete(Keyspace::kCost, "k").ok());
  EXPECT_EQ(cache.Stats(Keyspace::kCost).bytes, 0);
  EXPECT_EQ(cache.Stats(Keyspace::kCost).entries, 0);
}

}  // namespace
}  // namespace mangaassist::cache
