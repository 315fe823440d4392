// Redis Stream → PostgreSQL against real servers (tests/support): exactly once through retries
// and crashes between commit and ack, and a producer that fails fast when Redis is down.
#include "telemetry/pg_shipper.h"

#include <hiredis/hiredis.h>
#include <signal.h>

#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "telemetry/pg_sink.h"
#include "telemetry/redis_stream_sink.h"
#include "telemetry/sink_test_util.h"
#include "tests/support/postgres_server.h"
#include "tests/support/redis_server.h"

namespace mangaassist::telemetry {
namespace {

constexpr int64_t kAllFrom = -1'000'000'000'000'000;
constexpr int64_t kAllTo = 1'000'000'000'000'000;

class PgShipperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto redis = testing::RedisServer::Start();
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = *std::move(redis);
    auto pg = testing::PostgresServer::Start();
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = *std::move(pg);
    RedisStreamSinkOptions producer;
    producer.port = redis_->port();
    producer_ = NewRedisStreamSink(producer);
    PostgresSinkOptions reader_options;
    reader_options.conninfo = pg_->conninfo();
    auto reader = NewPostgresSink(reader_options);
    ASSERT_TRUE(reader.ok()) << reader.status();
    reader_ = *std::move(reader);
  }

  PgShipperOptions ShipperOptions() {
    PgShipperOptions o;
    o.redis_port = redis_->port();
    o.pg_conninfo = pg_->conninfo();
    o.batch_size = 64;
    o.block = std::chrono::milliseconds(50);
    return o;
  }

  // Steps until a step ships nothing (new entries exhausted); fails the test on errors.
  void Drain(PgShipper& shipper) {
    for (int i = 0; i < 1000; ++i) {
      auto n = shipper.ShipOnce();
      ASSERT_TRUE(n.ok()) << n.status();
      if (*n == 0 && i > 0) {
        auto again = shipper.ShipOnce();
        ASSERT_TRUE(again.ok()) << again.status();
        if (*again == 0) return;
      }
    }
    FAIL() << "shipper never went idle";
  }

  int64_t PendingEntries() {
    redisContext* c = redisConnect("127.0.0.1", redis_->port());
    auto* r = static_cast<redisReply*>(
        redisCommand(c, "XPENDING %s %s", kDefaultCostStream, "pg-shipper"));
    int64_t n = r != nullptr && r->type == REDIS_REPLY_ARRAY ? r->element[0]->integer : -1;
    if (r != nullptr) freeReplyObject(r);
    redisFree(c);
    return n;
  }

  void ExpectExactly(const std::vector<CostEvent>& events) {
    auto n = reader_->CountEvents();
    ASSERT_TRUE(n.ok()) << n.status();
    std::map<std::string, int> unique;
    for (const CostEvent& e : events) unique[e.request_id]++;
    EXPECT_EQ(*n, static_cast<int64_t>(unique.size()));
    auto rollups = reader_->Rollups(kAllFrom, kAllTo);
    ASSERT_TRUE(rollups.ok()) << rollups.status();
    EXPECT_EQ(*rollups, BruteForce(events, kAllFrom, kAllTo));
  }

  std::unique_ptr<testing::RedisServer> redis_;
  std::unique_ptr<testing::PostgresServer> pg_;
  std::unique_ptr<EventWriter> producer_;
  std::unique_ptr<EventSink> reader_;
  std::mt19937_64 rng_{7};
  std::mt19937_64 rng_copy_[8] = {std::mt19937_64{1}, std::mt19937_64{2}, std::mt19937_64{3},
                                 std::mt19937_64{4}, std::mt19937_64{5}, std::mt19937_64{6},
                                 std::mt19937_64{7}, std::mt19937_64{8}};  // one per racing thread
  const int64_t t0_ = 1'793'000'000'000;
};

TEST_F(PgShipperTest, ReplicasCreatingTheSchemaAtOnceAllSucceed) {
  // Replicas and shippers start together; CREATE TABLE IF NOT EXISTS alone can collide in the
  // catalog. A fresh database each round, eight stores racing to create the schema.
  for (int round = 0; round < 3; ++round) {
    auto conninfo = pg_->CreateDatabase("race" + std::to_string(round));
    ASSERT_TRUE(conninfo.ok()) << conninfo.status();
    std::vector<std::thread> threads;
    std::vector<absl::Status> results(8);
    for (size_t i = 0; i < results.size(); ++i) {
      threads.emplace_back([&results, i, c = *conninfo, this] {
        PostgresSinkOptions o;
        o.conninfo = c;
        auto sink = NewPostgresSink(o);
        if (!sink.ok()) {
          results[i] = sink.status();
          return;
        }
        results[i] = (*sink)->Write(RandomEvents(rng_copy_[i], 3, t0_, 1,
                                                 "race-" + std::to_string(i) + "-"));
      });
    }
    for (std::thread& t : threads) t.join();
    for (const absl::Status& r : results) EXPECT_TRUE(r.ok()) << r;
  }
}

TEST_F(PgShipperTest, EventsXaddedAreInPostgresExactlyOnce) {
  auto events = RandomEvents(rng_, 500, t0_, 30, "ship-");
  for (size_t at = 0; at < events.size(); at += 100) {
    std::vector<CostEvent> batch(events.begin() + static_cast<long>(at),
                                 events.begin() + static_cast<long>(at + 100));
    ASSERT_TRUE(producer_->Write(batch).ok());
    if (at == 200) {
      ASSERT_TRUE(producer_->Write(batch).ok());  // a producer retry
    }
  }
  auto shipper = PgShipper::Create(ShipperOptions());
  ASSERT_TRUE(shipper.ok()) << shipper.status();
  Drain(**shipper);
  EXPECT_EQ((*shipper)->shipped(), 600);
  EXPECT_EQ((*shipper)->inserted(), 500);
  EXPECT_EQ(PendingEntries(), 0);
  ExpectExactly(events);
}

TEST_F(PgShipperTest, CrashAfterCommitBeforeAckLosesNothingAndDuplicatesNothing) {
  auto events = RandomEvents(rng_, 150, t0_, 5, "crash-ack-");
  ASSERT_TRUE(producer_->Write(events).ok());
  {
    PgShipperOptions o = ShipperOptions();
    int steps = 0;
    // The second batch is committed, then the shipper "dies" before XACK.
    o.before_ack = [&steps] {
      return ++steps == 2 ? absl::AbortedError("crash before XACK") : absl::OkStatus();
    };
    auto shipper = PgShipper::Create(o);
    ASSERT_TRUE(shipper.ok()) << shipper.status();
    ASSERT_TRUE((*shipper)->ShipOnce().ok());   // pending phase: nothing yet
    ASSERT_TRUE((*shipper)->ShipOnce().ok());   // batch 1 committed and acked
    EXPECT_FALSE((*shipper)->ShipOnce().ok());  // batch 2 committed, not acked
  }
  EXPECT_EQ(PendingEntries(), 64);
  auto restarted = PgShipper::Create(ShipperOptions());
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  Drain(**restarted);
  EXPECT_EQ(PendingEntries(), 0);
  EXPECT_EQ((*restarted)->shipped(), 150 - 64);    // batch 2 again, then the rest
  EXPECT_EQ((*restarted)->inserted(), 150 - 128);  // batch 2 was already committed
  ExpectExactly(events);
}

TEST_F(PgShipperTest, CrashBeforeCommitRollsBackAndTheRestartShipsIt) {
  auto events = RandomEvents(rng_, 100, t0_, 5, "crash-commit-");
  ASSERT_TRUE(producer_->Write(events).ok());
  {
    PgShipperOptions o = ShipperOptions();
    o.before_commit = [] { return absl::AbortedError("crash before COMMIT"); };
    auto shipper = PgShipper::Create(o);
    ASSERT_TRUE(shipper.ok()) << shipper.status();
    ASSERT_TRUE((*shipper)->ShipOnce().ok());
    EXPECT_FALSE((*shipper)->ShipOnce().ok());
    EXPECT_FALSE((*shipper)->ShipOnce().ok());  // retries its pending batch, fails again
  }
  auto n = reader_->CountEvents();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0);
  auto restarted = PgShipper::Create(ShipperOptions());
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  Drain(**restarted);
  ExpectExactly(events);
}

TEST_F(PgShipperTest, UndecodableEntriesGoToTheDeadLetterStream) {
  redisContext* c = redisConnect("127.0.0.1", redis_->port());
  freeReplyObject(redisCommand(c, "XADD %s * e %s", kDefaultCostStream, "{not json"));
  auto events = RandomEvents(rng_, 10, t0_, 1, "ok-");
  ASSERT_TRUE(producer_->Write(events).ok());
  auto shipper = PgShipper::Create(ShipperOptions());
  ASSERT_TRUE(shipper.ok()) << shipper.status();
  Drain(**shipper);
  EXPECT_EQ((*shipper)->dead(), 1);
  auto* r = static_cast<redisReply*>(redisCommand(c, "XLEN %s:dead", kDefaultCostStream));
  EXPECT_EQ(r->integer, 1);
  freeReplyObject(r);
  redisFree(c);
  ExpectExactly(events);
}

TEST_F(PgShipperTest, BackgroundLoopShipsUntilStopped) {
  auto shipper = PgShipper::Create(ShipperOptions());
  ASSERT_TRUE(shipper.ok()) << shipper.status();
  (*shipper)->Start();
  auto events = RandomEvents(rng_, 200, t0_, 3, "bg-");
  ASSERT_TRUE(producer_->Write(events).ok());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((*shipper)->shipped() < 200 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  (*shipper)->Stop();
  ExpectExactly(events);
}

TEST_F(PgShipperTest, ProducerFailsFastWhenRedisIsDownAndRecovers) {
  auto events = RandomEvents(rng_, 5, t0_, 1, "down-");
  ASSERT_TRUE(producer_->Write(events).ok());
  redis_->Kill();
  auto t = std::chrono::steady_clock::now();
  absl::Status s = producer_->Write(events);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  s = producer_->Write(events);  // reconnect attempt: connection refused
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_LT(std::chrono::steady_clock::now() - t, std::chrono::milliseconds(500));
  ASSERT_TRUE(redis_->Restart().ok());
  EXPECT_TRUE(producer_->Write(events).ok());
}

TEST_F(PgShipperTest, ProducerTimesOutOnAHungRedis) {
  RedisStreamSinkOptions o;
  o.port = redis_->port();
  o.command_timeout = std::chrono::milliseconds(300);
  auto producer = NewRedisStreamSink(o);
  auto events = RandomEvents(rng_, 5, t0_, 1, "hung-");
  ASSERT_TRUE(producer->Write(events).ok());
  kill(redis_->pid(), SIGSTOP);  // accepts nothing, answers nothing
  auto t = std::chrono::steady_clock::now();
  absl::Status s = producer->Write(events);
  auto took = std::chrono::steady_clock::now() - t;
  kill(redis_->pid(), SIGCONT);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_LT(took, std::chrono::milliseconds(1500));
}

}  // namespace
}  // namespace mangaassist::telemetry
