// The ledger's contract on every backend (SQLite, PostgreSQL, in-process): rows are idempotent by
// request_id, immutable, and summed per day and scope.
#include "control/ledger.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>

#include "gtest/gtest.h"
#include "tests/support/postgres_server.h"

namespace mangaassist::control {
namespace {

using core::Money;

enum class Backend { kSqlite, kPostgres, kMemory };

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  switch (info.param) {
    case Backend::kSqlite: return "Sqlite";
    case Backend::kPostgres: return "Postgres";
    case Backend::kMemory: return "Memory";
  }
  return "";
}

class LedgerTest : public ::testing::TestWithParam<Backend> {
 protected:
  static void TearDownTestSuite() { pg_.reset(); }

  void SetUp() override {
    static int n = 0;
    ++n;
    if (GetParam() == Backend::kMemory) {
      ledger_ = OpenMemoryLedger();
      return;
    }
    if (GetParam() == Backend::kSqlite) {
      path_ = (std::filesystem::temp_directory_path() /
               ("ledger_test_" + std::to_string(getpid()) + "_" + std::to_string(n) + ".db"))
                  .string();
      auto l = OpenSqliteLedger(path_);
      ASSERT_TRUE(l.ok()) << l.status();
      ledger_ = *std::move(l);
      return;
    }
    if (pg_ == nullptr) {
      auto pg = testing::PostgresServer::Start();
      ASSERT_TRUE(pg.ok()) << pg.status();
      pg_ = *std::move(pg);
    }
    auto conninfo = pg_->CreateDatabase("ledger_" + std::to_string(n));
    ASSERT_TRUE(conninfo.ok()) << conninfo.status();
    conninfo_ = *conninfo;
    auto l = OpenPostgresLedger(conninfo_);
    ASSERT_TRUE(l.ok()) << l.status();
    ledger_ = *std::move(l);
  }

  void TearDown() override {
    ledger_.reset();
    if (!path_.empty()) {
      std::filesystem::remove(path_);
      std::filesystem::remove(path_ + "-wal");
      std::filesystem::remove(path_ + "-shm");
    }
  }

  // Runs raw SQL on the backend; returns whether it succeeded.
  bool RawSql(const std::string& sql) {
    if (GetParam() == Backend::kSqlite) {
      sqlite3* db = nullptr;
      sqlite3_open(path_.c_str(), &db);
      const bool ok = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK;
      sqlite3_close(db);
      return ok;
    }
    PGconn* c = PQconnectdb(conninfo_.c_str());
    PGresult* r = PQexec(c, sql.c_str());
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    PQfinish(c);
    return ok;
  }

  static LedgerRow Row(std::string id, std::string day, std::string tenant, std::string key,
                       int64_t actual) {
    return LedgerRow{std::move(id), std::move(day), 1, std::move(tenant), std::move(key),
                     "claude-3-5-haiku", Money::FromNanos(actual * 2), Money::FromNanos(actual)};
  }

  static std::unique_ptr<testing::PostgresServer> pg_;
  std::string path_, conninfo_;
  std::unique_ptr<Ledger> ledger_;
};

std::unique_ptr<testing::PostgresServer> LedgerTest::pg_;

TEST_P(LedgerTest, SumsADayPerScopeAndIgnoresRetriedRows) {
  ledger_->Append(Row("r1", "2026-11-27", "acme", "front", 100));
  ledger_->Append(Row("r2", "2026-11-27", "acme", "", 50));
  ledger_->Append(Row("r3", "2026-11-27", "beta", "front", 7));
  ledger_->Append(Row("r4", "2026-11-26", "acme", "front", 1000));
  ledger_->Append(Row("r1", "2026-11-27", "acme", "front", 100));  // a retried settle
  ASSERT_TRUE(ledger_->Flush().ok());
  auto d = ledger_->SumDay("2026-11-27");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->deployment, Money::FromNanos(157));
  EXPECT_EQ(d->tenants["acme"], Money::FromNanos(150));
  EXPECT_EQ(d->tenants["beta"], Money::FromNanos(7));
  EXPECT_EQ(d->keys["front"], Money::FromNanos(107));
  EXPECT_EQ(d->rows, 3);
  auto rows = ledger_->Rows("2026-11-27", 10);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 3u);
}

TEST_P(LedgerTest, RowsCannotBeEditedOrDeleted) {
  ledger_->Append(Row("r1", "2026-11-27", "acme", "", 100));
  ASSERT_TRUE(ledger_->Flush().ok());
  if (GetParam() != Backend::kMemory) {  // the in-process ledger has no SQL to try
    EXPECT_FALSE(RawSql("UPDATE budget_ledger SET actual_nanos = 1 WHERE request_id = 'r1'"));
    EXPECT_FALSE(RawSql("DELETE FROM budget_ledger WHERE request_id = 'r1'"));
  }
  // Nor through the interface: a second row with the same id and another amount is ignored.
  ledger_->Append(Row("r1", "2026-11-27", "acme", "", 5));
  ASSERT_TRUE(ledger_->Flush().ok());
  auto d = ledger_->SumDay("2026-11-27");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->deployment, Money::FromNanos(100));
}

TEST_P(LedgerTest, ManyRowsFromManyThreadsAreAllWritten) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < 500; ++i) {
        ledger_->Append(Row("t" + std::to_string(t) + "-" + std::to_string(i), "2026-11-27",
                            "acme", "", 3));
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(ledger_->Flush().ok());
  auto d = ledger_->SumDay("2026-11-27");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->rows, 2000);
  EXPECT_EQ(d->deployment, Money::FromNanos(6000));
}

INSTANTIATE_TEST_SUITE_P(AllBackends, LedgerTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres, Backend::kMemory),
                         BackendName);

// The in-process ledger's memory grows with days, not requests: every day keeps its sums; only
// the two most recent days keep their ids and their last kMemoryLedgerRowsPerDay rows.
TEST(MemoryLedgerTest, KeepsSumsForEveryDayButBoundedRowsAndIds) {
  std::unique_ptr<Ledger> l = OpenMemoryLedger();
  const int n = static_cast<int>(kMemoryLedgerRowsPerDay) + 500;
  for (int day = 1; day <= 3; ++day) {
    for (int i = 0; i < n; ++i) {
      l->Append(LedgerRow{"d" + std::to_string(day) + "-" + std::to_string(i),
                          "2026-11-0" + std::to_string(day), i, "acme", "", "m",
                          Money::FromNanos(2), Money::FromNanos(1)});
    }
  }
  for (int day = 1; day <= 3; ++day) {
    auto d = l->SumDay("2026-11-0" + std::to_string(day));
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->deployment, Money::FromNanos(n));
    EXPECT_EQ(d->rows, n);
  }
  auto rows = l->Rows("2026-11-03", 1'000'000);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), kMemoryLedgerRowsPerDay);
  EXPECT_EQ(rows->front().ts_ms, n - 1);  // newest first
  EXPECT_EQ(l->Rows("2026-11-02", 10)->size(), 10u);
  EXPECT_TRUE(l->Rows("2026-11-01", 10)->empty());
  // Day 2's ids are still known (a late retry is ignored); day 1's were forgotten.
  l->Append(LedgerRow{"d2-0", "2026-11-02", 0, "acme", "", "m", Money::FromNanos(2),
                      Money::FromNanos(1)});
  EXPECT_EQ(l->SumDay("2026-11-02")->rows, n);
}

}  // namespace
}  // namespace mangaassist::control
