// API keys from PostgreSQL (auth.postgres): loaded at start, reloaded every auth.refresh, a
// disabled row stops working, a key of the same name overrides the config's.
#include <libpq-fe.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "control/traffic.h"
#include "gtest/gtest.h"
#include "tests/support/postgres_server.h"

namespace mangaassist::control {
namespace {

void Sql(const std::string& conninfo, const std::string& sql) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  PGresult* r = PQexec(c, sql.c_str());
  EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQerrorMessage(c);
  PQclear(r);
  PQfinish(c);
}

TEST(ApiKeysPostgresTest, KeysComeFromTheTableAndFollowItsChanges) {
  auto pg = testing::PostgresServer::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  const std::string conninfo = (*pg)->conninfo();
  ASSERT_TRUE(LoadPostgresKeys(conninfo).ok());  // creates the table
  Sql(conninfo, "INSERT INTO api_keys (name, sha256, tenant, tier, daily_budget_nanos) VALUES "
                "('shop', '" + KeyDigest("shop-key") + "', 'acme', 'premium', 5000000000), "
                "('old', '" + KeyDigest("old-key") + "', 'acme', 'member', 0)");
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("api-keys-test-" + std::to_string(getpid()));
  core::Config config = core::DefaultConfig();
  config.budget.ledger_sqlite_path = (dir / "ledger.db").string();
  config.auth.postgres = conninfo;
  config.auth.refresh = absl::Seconds(1);
  config.auth.keys.push_back(core::ApiKeyConfig{"old", KeyDigest("config-key"), "beta",
                                                core::Tier::kGuest, core::Money()});
  auto traffic = TrafficControl::Create(config, &core::SystemClock(), nullptr, nullptr);
  ASSERT_TRUE(traffic.ok()) << traffic.status();

  auto auth = [&](const std::string& key, core::RequestContext* ctx) {
    ctx->api_key = key;
    return (*traffic)->Authenticate(*ctx);
  };
  core::RequestContext shop;
  ASSERT_TRUE(auth("shop-key", &shop).ok());
  EXPECT_EQ(shop.key_name, "shop");
  EXPECT_EQ(shop.tenant, "acme");
  EXPECT_EQ(shop.tier, core::Tier::kPremium);
  core::RequestContext overridden;
  EXPECT_EQ(auth("config-key", &overridden).code(), absl::StatusCode::kUnauthenticated);
  core::RequestContext old;
  EXPECT_TRUE(auth("old-key", &old).ok());

  // Disabled in the database: refused after the next reload, without a restart.
  Sql(conninfo, "UPDATE api_keys SET disabled = true WHERE name = 'shop'");
  bool refused = false;
  for (int i = 0; i < 40 && !refused; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    core::RequestContext again;
    refused = auth("shop-key", &again).code() == absl::StatusCode::kUnauthenticated;
  }
  EXPECT_TRUE(refused);
  traffic->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mangaassist::control
