// The real-server harness: servers come up on loopback fast, answer, and are gone (process and
// directory) after Stop(); Kill()/Restart() simulate a Redis outage.
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "tests/support/postgres_server.h"
#include "tests/support/redis_server.h"

namespace mangaassist::testing {
namespace {

bool ProcessExists(pid_t pid) { return pid > 0 && kill(pid, 0) == 0; }
bool PathExists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

std::string RedisPing(uint16_t port) {
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, timeval{1, 0});
  std::string out = "no connection";
  if (c != nullptr && c->err == 0) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
    out = r != nullptr && r->str != nullptr ? r->str : "no reply";
    if (r != nullptr) freeReplyObject(r);
  }
  if (c != nullptr) redisFree(c);
  return out;
}

TEST(RedisServerTest, StartsAnswersAndStopsByPid) {
  auto t0 = std::chrono::steady_clock::now();
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  RecordProperty("start_ms", static_cast<int>(ms.count()));
  EXPECT_LT(ms.count(), 20000);  // target < 3 s; generous for loaded CI machines
  EXPECT_EQ(RedisPing((*redis)->port()), "PONG");
  pid_t pid = (*redis)->pid();
  std::string dir = (*redis)->dir();
  EXPECT_TRUE(ProcessExists(pid));
  (*redis)->Stop();
  EXPECT_FALSE(ProcessExists(pid));
  EXPECT_FALSE(PathExists(dir));
  (*redis)->Stop();  // idempotent
}

TEST(RedisServerTest, KillThenRestartOnTheSamePort) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  uint16_t port = (*redis)->port();
  (*redis)->Kill();
  EXPECT_NE(RedisPing(port), "PONG");
  ASSERT_TRUE((*redis)->Restart().ok());
  EXPECT_EQ((*redis)->port(), port);
  EXPECT_EQ(RedisPing(port), "PONG");
}

TEST(RedisServerTest, MissingBinaryIsAClearError) {
  RedisServerOptions options;
  options.binary = "/nonexistent/redis-server";
  auto redis = RedisServer::Start(options);
  ASSERT_FALSE(redis.ok());
  EXPECT_EQ(redis.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(redis.status().message().find("redis-server"), std::string::npos);
}

TEST(PostgresServerTest, StartsAcceptsConnectionsAndStops) {
  auto t0 = std::chrono::steady_clock::now();
  auto pg = PostgresServer::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  RecordProperty("start_ms", static_cast<int>(ms.count()));
  EXPECT_LT(ms.count(), 20000);  // target < 3 s; generous for loaded CI machines
  PGconn* conn = PQconnectdb((*pg)->conninfo().c_str());
  ASSERT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
  PGresult* res = PQexec(conn, "SELECT current_database(), current_user");
  ASSERT_EQ(PQresultStatus(res), PGRES_TUPLES_OK) << PQerrorMessage(conn);
  EXPECT_STREQ(PQgetvalue(res, 0, 0), "mangaassist_test");
  EXPECT_STREQ(PQgetvalue(res, 0, 1), "postgres");
  PQclear(res);
  PQfinish(conn);

  auto other = (*pg)->CreateDatabase("second_db");
  ASSERT_TRUE(other.ok()) << other.status();
  conn = PQconnectdb(other->c_str());
  EXPECT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
  PQfinish(conn);

  pid_t pid = (*pg)->pid();
  EXPECT_TRUE(ProcessExists(pid));
  auto t1 = std::chrono::steady_clock::now();
  (*pg)->Stop();
  RecordProperty("stop_ms", static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 std::chrono::steady_clock::now() - t1)
                                                 .count()));
  EXPECT_FALSE(ProcessExists(pid));
}

TEST(PostgresServerTest, MissingBinariesAreAClearError) {
  PostgresServerOptions options;
  options.bin_dir = "/nonexistent/bin";
  auto pg = PostgresServer::Start(options);
  ASSERT_FALSE(pg.ok());
  EXPECT_EQ(pg.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(pg.status().message().find("postgresql"), std::string::npos);
}

}  // namespace
}  // namespace mangaassist::testing
