// One suite for every ControlStore backend: in-process and Redis (a real redis-server on
// loopback), plus the Redis store's own behaviour: seeding from the ledger and the in-process
// fallback while Redis is down.
#include "control/store.h"

#include <hiredis/hiredis.h>

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/redis_server.h"

namespace mangaassist::control {
namespace {

using core::Money;
constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kT0 = 1'795'000'000 * kSecond;  // 2026-11-17

enum class Backend { kMemory, kRedis };

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kMemory ? "Memory" : "Redis";
}

void Flush(const testing::RedisServer& redis) {
  redisContext* c = redisConnect(redis.host().c_str(), redis.port());
  ASSERT_TRUE(c != nullptr && c->err == 0);
  freeReplyObject(redisCommand(c, "FLUSHALL"));
  redisFree(c);
}

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  static void TearDownTestSuite() { redis_.reset(); }

  void SetUp() override {
    if (GetParam() == Backend::kMemory) {
      store_ = NewMemoryStore();
      return;
    }
    if (redis_ == nullptr) {
      auto r = testing::RedisServer::Start();
      ASSERT_TRUE(r.ok()) << r.status();
      redis_ = *std::move(r);
    }
    Flush(*redis_);
    RedisStoreOptions o;
    o.url = "redis://127.0.0.1:" + std::to_string(redis_->port());
    o.command_timeout = absl::Seconds(2);
    o.pool_size = 8;
    auto s = NewRedisStore(o);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }

  AcquireResult Acquire(const AcquireRequest& req) {
    auto r = store_->Acquire(req);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : AcquireResult{};
  }

  static AcquireRequest Limits(std::vector<LimitCheck> limits, int64_t now = kT0) {
    AcquireRequest r;
    r.hold_id = "rid";
    r.now_ns = now;
    r.limits = std::move(limits);
    return r;
  }

  static AcquireRequest Hold(std::string id, Money amount, std::vector<CapCheck> caps,
                             int64_t now = kT0) {
    AcquireRequest r;
    r.hold_id = std::move(id);
    r.now_ns = now;
    r.caps = std::move(caps);
    r.amount = amount;
    r.hold_ttl_ns = 600 * kSecond;
    r.velocity_minutes = 10;
    return r;
  }

  static std::unique_ptr<testing::RedisServer> redis_;
  std::unique_ptr<ControlStore> store_;
};

std::unique_ptr<testing::RedisServer> StoreTest::redis_;

const GcraLimit kTenPerMinute{10, 60 * kSecond, 5};

TEST_P(StoreTest, GcraBurstThenRetryAfter) {
  for (int i = 0; i < 5; ++i) {
    AcquireResult r = Acquire(Limits({{"rate:a", kTenPerMinute, 1}}));
    ASSERT_EQ(r.outcome, AcquireOutcome::kOk) << i;
    EXPECT_EQ(r.remaining, 4 - i);
  }
  AcquireResult denied = Acquire(Limits({{"rate:a", kTenPerMinute, 1}}));
  EXPECT_EQ(denied.outcome, AcquireOutcome::kRateLimited);
  EXPECT_EQ(denied.denied, 0);
  EXPECT_EQ(denied.retry_after_ns, 6 * kSecond);
  // Another key is independent.
  EXPECT_EQ(Acquire(Limits({{"rate:b", kTenPerMinute, 1}})).outcome, AcquireOutcome::kOk);
  EXPECT_EQ(Acquire(Limits({{"rate:a", kTenPerMinute, 1}}, kT0 + 6 * kSecond)).outcome,
            AcquireOutcome::kOk);
}

TEST_P(StoreTest, ARefusedRequestConsumesNothing) {
  const GcraLimit one{1, 60 * kSecond, 1};
  ASSERT_EQ(Acquire(Limits({{"rate:tight", one, 1}})).outcome, AcquireOutcome::kOk);
  // The loose limit would pass, the tight one refuses: the loose one keeps its 5.
  AcquireResult r = Acquire(Limits({{"rate:loose", kTenPerMinute, 1}, {"rate:tight", one, 1}}));
  EXPECT_EQ(r.outcome, AcquireOutcome::kRateLimited);
  EXPECT_EQ(r.denied, 1);
  AcquireResult loose = Acquire(Limits({{"rate:loose", kTenPerMinute, 1}}));
  EXPECT_EQ(loose.remaining, 4);
  // A cap that refuses the hold also leaves the limits untouched.
  AcquireRequest both = Hold("h", Money::FromNanos(200), {{"cost:d:deploy", Money::FromNanos(100)}});
  both.limits = {{"rate:other", kTenPerMinute, 1}};
  EXPECT_EQ(Acquire(both).outcome, AcquireOutcome::kOverBudget);
  EXPECT_EQ(Acquire(Limits({{"rate:other", kTenPerMinute, 1}})).remaining, 4);
}

TEST_P(StoreTest, HoldsCountUntilSettledAndSettleIsIdempotent) {
  const std::vector<CapCheck> caps = {{"cost:d:deploy", Money::FromNanos(100)},
                                      {"cost:d:tenant:t", Money::FromNanos(1000)}};
  ASSERT_EQ(Acquire(Hold("r1", Money::FromNanos(40), caps)).outcome, AcquireOutcome::kOk);
  AcquireResult second = Acquire(Hold("r2", Money::FromNanos(40), caps));
  ASSERT_EQ(second.outcome, AcquireOutcome::kOk);
  EXPECT_EQ(second.caps[0].held, Money::FromNanos(80));
  AcquireResult third = Acquire(Hold("r3", Money::FromNanos(40), caps));
  EXPECT_EQ(third.outcome, AcquireOutcome::kOverBudget);
  EXPECT_EQ(third.denied, 0);

  SettleRequest s{"r1", kT0, caps, Money::FromNanos(40), Money::FromNanos(10), {}};
  ASSERT_TRUE(store_->Settle(s).ok());
  ASSERT_TRUE(store_->Settle(s).ok());  // a retried settle changes nothing
  auto read = store_->Read(caps, kT0, 10);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->caps[0].spent, Money::FromNanos(10));
  EXPECT_EQ(read->caps[0].held, Money::FromNanos(40));
  EXPECT_EQ(read->caps[1].spent, Money::FromNanos(10));
  EXPECT_EQ(Acquire(Hold("r4", Money::FromNanos(40), caps)).outcome, AcquireOutcome::kOk);
}

TEST_P(StoreTest, AnUnsettledHoldExpires) {
  const std::vector<CapCheck> caps = {{"cost:d:deploy", Money::FromNanos(100)}};
  AcquireRequest h = Hold("lost", Money::FromNanos(90), caps);
  h.hold_ttl_ns = 5 * kSecond;
  ASSERT_EQ(Acquire(h).outcome, AcquireOutcome::kOk);
  EXPECT_EQ(Acquire(Hold("x", Money::FromNanos(20), caps, kT0 + kSecond)).outcome,
            AcquireOutcome::kOverBudget);
  AcquireResult later = Acquire(Hold("y", Money::FromNanos(20), caps, kT0 + 6 * kSecond));
  EXPECT_EQ(later.outcome, AcquireOutcome::kOk);
  EXPECT_EQ(later.caps[0].held, Money::FromNanos(20));
  // Its late settle still counts the spend, and does not release twice.
  ASSERT_TRUE(store_->Settle({"lost", kT0 + 7 * kSecond, caps, Money::FromNanos(90),
                              Money::FromNanos(30), {}}).ok());
  auto read = store_->Read(caps, kT0 + 7 * kSecond, 10);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->caps[0].spent, Money::FromNanos(30));
  EXPECT_EQ(read->caps[0].held, Money::FromNanos(20));
}

TEST_P(StoreTest, TokenEstimatesAreCorrectedAtSettle) {
  const GcraLimit tokens{1000, 60 * kSecond, 1000};
  AcquireRequest a = Limits({{"rate:u:tok", tokens, 800}});
  a.hold_id = "t1";
  ASSERT_EQ(Acquire(a).outcome, AcquireOutcome::kOk);
  a.hold_id = "t2";
  EXPECT_EQ(Acquire(a).outcome, AcquireOutcome::kRateLimited);
  ASSERT_TRUE(store_->Settle({"t1", kT0, {}, Money(), Money(), {{"rate:u:tok", tokens, -700}}}).ok());
  a.hold_id = "t3";
  AcquireResult r = Acquire(a);
  EXPECT_EQ(r.outcome, AcquireOutcome::kOk);
  EXPECT_EQ(r.remaining, 100);
}

TEST_P(StoreTest, VelocityIsTheSpendOfTheLastMinutes) {
  const std::vector<CapCheck> caps = {{"cost:d:deploy", Money::FromNanos(1'000'000)}};
  ASSERT_TRUE(store_->Settle({"v1", kT0, caps, Money(), Money::FromNanos(100), {}}).ok());
  ASSERT_TRUE(
      store_->Settle({"v2", kT0 + 60 * kSecond, caps, Money(), Money::FromNanos(50), {}}).ok());
  auto r = store_->Read(caps, kT0 + 60 * kSecond, 10);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->velocity, Money::FromNanos(150));
  auto later = store_->Read(caps, kT0 + 11 * 60 * kSecond, 10);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->velocity, Money::FromNanos(0));
}

TEST_P(StoreTest, ConcurrentHoldsNeverExceedTheCap) {
  const std::vector<CapCheck> caps = {{"cost:d:deploy", Money::FromNanos(1000)}};
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        auto r = store_->Acquire(
            Hold("c" + std::to_string(t) + "-" + std::to_string(i), Money::FromNanos(7), caps));
        if (r.ok() && r->outcome == AcquireOutcome::kOk) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 142);  // floor(1000 / 7): exactly as many as fit, never one more
  auto read = store_->Read(caps, kT0, 10);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->caps[0].held, Money::FromNanos(142 * 7));
}

TEST_P(StoreTest, PreloadNeverLowersSpend) {
  const std::vector<CapCheck> caps = {{"cost:p:deploy", Money::FromNanos(100)}};
  ASSERT_TRUE(store_->Preload({"cost:p:deploy"}, {Money::FromNanos(0)}).ok());
  if (GetParam() == Backend::kMemory) {
    ASSERT_TRUE(store_->Preload({"cost:p:deploy"}, {Money::FromNanos(95)}).ok());
    EXPECT_EQ(Acquire(Hold("p", Money::FromNanos(10), caps)).outcome, AcquireOutcome::kOverBudget);
  }
}

INSTANTIATE_TEST_SUITE_P(AllBackends, StoreTest,
                         ::testing::Values(Backend::kMemory, Backend::kRedis), BackendName);

// --- the Redis store's own behaviour ---------------------------------------------------------

class RedisStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = testing::RedisServer::Start();
    ASSERT_TRUE(r.ok()) << r.status();
    redis_ = *std::move(r);
  }

  std::unique_ptr<ControlStore> Make(int replicas, SeedFn seed) {
    RedisStoreOptions o;
    o.url = "redis://127.0.0.1:" + std::to_string(redis_->port());
    o.command_timeout = absl::Milliseconds(200);
    o.connect_timeout = absl::Milliseconds(200);
    o.backoff_initial = absl::Milliseconds(10);
    o.backoff_max = absl::Milliseconds(50);
    o.replicas = replicas;
    o.seed = std::move(seed);
    auto s = NewRedisStore(o);
    EXPECT_TRUE(s.ok()) << s.status();
    return *std::move(s);
  }

  std::unique_ptr<testing::RedisServer> redis_;
};

TEST_F(RedisStoreTest, MissingCountersAreSeededFromTheLedger) {
  int asked = 0;
  auto store = Make(1, [&](const std::vector<std::string>& keys) {
    ++asked;
    EXPECT_EQ(keys, std::vector<std::string>{"cost:2026-11-27:deploy"});
    return std::vector<Money>{Money::FromNanos(90)};
  });
  const std::vector<CapCheck> caps = {{"cost:2026-11-27:deploy", Money::FromNanos(100)}};
  AcquireRequest h;
  h.hold_id = "a";
  h.now_ns = kT0;
  h.caps = caps;
  h.amount = Money::FromNanos(20);
  h.hold_ttl_ns = 60 * kSecond;
  auto r = store->Acquire(h);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, AcquireOutcome::kOverBudget);  // 90 already spent per the ledger
  EXPECT_EQ(r->caps[0].spent, Money::FromNanos(90));
  EXPECT_EQ(asked, 1);
  // Seeded once: later calls do not ask again.
  h.amount = Money::FromNanos(5);
  ASSERT_TRUE(store->Acquire(h).ok());
  EXPECT_EQ(asked, 1);
  // Redis loses everything (restart without persistence): seeded again from the ledger.
  Flush(*redis_);
  h.hold_id = "b";
  auto again = store->Acquire(h);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(asked, 2);
  EXPECT_EQ(again->caps[0].spent, Money::FromNanos(90));
}

// A counter of INFO's `section`: "calls" of a command from commandstats, or a stats field.
int64_t Info(const testing::RedisServer& redis, const std::string& section,
             const std::string& field) {
  redisContext* c = redisConnect(redis.host().c_str(), redis.port());
  auto* r = static_cast<redisReply*>(redisCommand(c, "INFO %s", section.c_str()));
  const std::string info(r->str, r->len);
  freeReplyObject(r);
  redisFree(c);
  const size_t at = info.find(field);
  if (at == std::string::npos) return 0;
  return std::stoll(info.substr(at + field.size()));
}

TEST_F(RedisStoreTest, LimitsAndHoldAreOneRoundTripPerRequest) {
  auto store = Make(1, nullptr);
  AcquireRequest r;
  r.now_ns = kT0;
  r.limits = {{"rate:u:req", {100, 60 * kSecond, 100}, 1},
              {"rate:u:tok", {100'000, 60 * kSecond, 100'000}, 900},
              {"rate:ip:req", {100, 60 * kSecond, 100}, 1}};
  r.caps = {{"cost:d:deploy", Money::FromNanos(1'000'000'000)},
            {"cost:d:tenant:t", Money::FromNanos(1'000'000'000)}};
  r.amount = Money::FromNanos(1000);
  r.hold_ttl_ns = 60 * kSecond;
  r.velocity_minutes = 10;
  r.hold_id = "warm";
  ASSERT_TRUE(store->Acquire(r).ok());  // loads the script and seeds the day
  const int64_t evalsha = Info(*redis_, "commandstats", "cmdstat_evalsha:calls=");
  const int64_t loads = Info(*redis_, "commandstats", "cmdstat_script|load:calls=");
  const int64_t connections = Info(*redis_, "stats", "total_connections_received:");
  for (int i = 0; i < 20; ++i) {
    r.hold_id = "rt" + std::to_string(i);
    auto a = store->Acquire(r);
    ASSERT_TRUE(a.ok());
    ASSERT_EQ(a->outcome, AcquireOutcome::kOk);
  }
  // 20 requests, 20 EVALSHA: three limits and two caps in one script call each, on a pooled
  // connection (the INFO calls themselves connect 3 times), no script reloads.
  EXPECT_EQ(Info(*redis_, "commandstats", "cmdstat_evalsha:calls=") - evalsha, 20);
  EXPECT_EQ(Info(*redis_, "commandstats", "cmdstat_script|load:calls=") - loads, 0);
  EXPECT_EQ(Info(*redis_, "stats", "total_connections_received:") - connections, 3);
}

TEST_F(RedisStoreTest, WhileRedisIsDownLimitsAreDividedByReplicasAndSpendCatchesUp) {
  auto store = Make(2, nullptr);
  const GcraLimit ten{10, 60 * kSecond, 10};
  const std::vector<CapCheck> caps = {{"cost:d:deploy", Money::FromNanos(1000)}};
  // Redis knows 600 of 1000 spent.
  ASSERT_TRUE(store->Settle({"s0", kT0, caps, Money(), Money(), {}}).ok());
  AcquireRequest seed;
  seed.hold_id = "s";
  seed.now_ns = kT0;
  seed.caps = caps;
  ASSERT_TRUE(store->Acquire(seed).ok());
  ASSERT_TRUE(store->Settle({"s1", kT0, caps, Money(), Money::FromNanos(600), {}}).ok());
  ASSERT_TRUE(store->Acquire(seed).ok());  // remembers 600 used

  redis_->Kill();
  int passed = 0;
  for (int i = 0; i < 10; ++i) {
    AcquireRequest r;
    r.hold_id = "down" + std::to_string(i);
    r.now_ns = kT0;
    r.limits = {{"rate:u", ten, 1}};
    auto a = store->Acquire(r);
    ASSERT_TRUE(a.ok()) << a.status();  // no error: the fallback answers
    if (a->outcome == AcquireOutcome::kOk) ++passed;
  }
  EXPECT_EQ(passed, 5);  // 10 ÷ 2 replicas
  // The cap: (1000 − 600) ÷ 2 = 200 for this replica.
  AcquireRequest big;
  big.hold_id = "big";
  big.now_ns = kT0;
  big.caps = caps;
  big.amount = Money::FromNanos(201);
  auto refused = store->Acquire(big);
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->outcome, AcquireOutcome::kOverBudget);
  big.amount = Money::FromNanos(150);
  auto held = store->Acquire(big);
  ASSERT_TRUE(held.ok());
  ASSERT_EQ(held->outcome, AcquireOutcome::kOk);
  ASSERT_TRUE(store->Settle({"big", kT0, caps, Money::FromNanos(150), Money::FromNanos(120), {}}).ok());

  // Redis comes back empty; the 120 spent meanwhile reaches it.
  ASSERT_TRUE(redis_->Restart().ok());
  absl::SleepFor(absl::Milliseconds(100));  // past the reconnect backoff
  AcquireRequest probe;
  probe.hold_id = "after";
  probe.now_ns = kT0;
  probe.caps = caps;
  for (int i = 0; i < 50; ++i) {
    auto r = store->Acquire(probe);
    ASSERT_TRUE(r.ok());
    auto read = store->Read(caps, kT0, 1);
    ASSERT_TRUE(read.ok());
    if (read->caps[0].spent == Money::FromNanos(120)) return;
    absl::SleepFor(absl::Milliseconds(20));
  }
  ADD_FAILURE() << "the spend settled while Redis was down never reached it";
}

}  // namespace
}  // namespace mangaassist::control
