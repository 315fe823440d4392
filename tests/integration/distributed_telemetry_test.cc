// The distributed US-07 path with real servers: two gateway replicas (in-process, each with its
// own spool) record cost events into one Redis Stream; the `mangaassist ship` process drains it
// into PostgreSQL; every request is there exactly once.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/gateway.h"
#include "gtest/gtest.h"
#include "http/server.h"
#include "telemetry/pg_sink.h"
#include "tests/support/http_test_client.h"
#include "tests/support/postgres_server.h"
#include "tests/support/redis_server.h"

namespace mangaassist {
namespace {

const char* const kBinary = MANGAASSIST_BINARY_DIR "/src/cli/mangaassist";

struct Replica {
  core::Config config;
  std::unique_ptr<api::Gateway> gateway;
  std::unique_ptr<http::Server> server;
};

TEST(DistributedTelemetryTest, TwoReplicasThroughRedisAndTheShipperLandInPostgresExactlyOnce) {
  auto redis = testing::RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  auto pg = testing::PostgresServer::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("ma-dist-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);

  core::Registry metrics;
  std::vector<Replica> replicas(2);
  for (size_t i = 0; i < replicas.size(); ++i) {
    Replica& r = replicas[i];
    r.config = core::DefaultConfig();
    r.config.data_dir = MANGAASSIST_DATA_DIR_FOR_TESTS;
    r.config.server.host = "127.0.0.1";
    r.config.server.port = 0;
    r.config.server.threads = 1;
    r.config.pipeline.stages = {"admit", "normalize", "call", "record"};
    r.config.telemetry.enabled = true;
    r.config.telemetry.sink = "redis";
    r.config.telemetry.redis_host = (*redis)->host();
    r.config.telemetry.redis_port = (*redis)->port();
    r.config.telemetry.spool_dir = (dir / ("spool-" + std::to_string(i))).string();
    r.config.telemetry.ship_interval = absl::Milliseconds(20);
    auto gw = api::Gateway::Create(&r.config, &metrics, &core::SystemClock());
    ASSERT_TRUE(gw.ok()) << gw.status();
    r.gateway = *std::move(gw);
    r.server = std::make_unique<http::Server>(r.config.server, r.gateway->handler(), &metrics);
    ASSERT_TRUE(r.server->Start().ok());
  }
  constexpr int kPerReplica = 7;
  for (Replica& r : replicas) {
    testing::HttpTestClient client(r.server->port());
    for (int i = 0; i < kPerReplica; ++i) {
      auto res = client.Post("/v1/chat", R"({"session_id":"s","user_id":"u","message":"hello"})");
      ASSERT_TRUE(res.ok()) << res.status();
      ASSERT_EQ(res->status, 200) << res->body;
    }
  }
  for (Replica& r : replicas) {  // drain: requests, then each spool into the stream
    r.server->Stop();
    r.gateway.reset();
  }

  const std::string redis_addr = "127.0.0.1:" + std::to_string((*redis)->port());
  const std::string conninfo = (*pg)->conninfo();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl(kBinary, kBinary, "ship", "--redis", redis_addr.c_str(), "--postgres", conninfo.c_str(),
          "--consumer", "test-shipper", "--workers", "2", static_cast<char*>(nullptr));
    _exit(127);
  }
  telemetry::PostgresSinkOptions o;
  o.conninfo = conninfo;
  int64_t stored = 0;
  for (int i = 0; i < 200 && stored < 2 * kPerReplica; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto sink = telemetry::NewPostgresSink(o);
    if (!sink.ok()) continue;
    auto count = (*sink)->CountEvents();
    if (count.ok()) stored = *count;
  }
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(stored, 2 * kPerReplica);

  auto sink = telemetry::NewPostgresSink(o);
  ASSERT_TRUE(sink.ok()) << sink.status();
  auto rollups = (*sink)->Rollups(0, INT64_MAX);
  ASSERT_TRUE(rollups.ok()) << rollups.status();
  int64_t requests = 0;
  for (const auto& r : *rollups) requests += r.requests;
  EXPECT_EQ(requests, 2 * kPerReplica);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mangaassist
