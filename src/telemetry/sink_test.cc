// The one suite every EventSink passes: SQLite on a temporary file and PostgreSQL started by the
// test harness (tests/support/postgres_server.h, a fresh database per test).
#include "telemetry/sink.h"

#include <libpq-fe.h>
#include <sqlite3.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "gtest/gtest.h"
#include "telemetry/event_codec.h"
#include "telemetry/event_test_util.h"
#include "telemetry/pg_sink.h"
#include "telemetry/sink_test_util.h"
#include "telemetry/sql/cost_schema.h"
#include "telemetry/sqlite_sink.h"
#include "tests/support/postgres_server.h"
#include "tests/support/server_process.h"

namespace mangaassist::telemetry {
namespace {

using core::Money;

enum class Backend { kSqlite, kPostgres };

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
}

constexpr int64_t kAllFrom = -1'000'000'000'000'000;
constexpr int64_t kAllTo = 1'000'000'000'000'000;

class EventSinkTest : public ::testing::TestWithParam<Backend> {
 protected:
  static void TearDownTestSuite() { postgres_.reset(); }

  void SetUp() override {
    if (GetParam() == Backend::kSqlite) {
      auto dir = testing::MakeTempDir("ma-sink-test");
      ASSERT_TRUE(dir.ok()) << dir.status();
      dir_ = *dir;
    } else {
      if (postgres_ == nullptr) {
        auto pg = testing::PostgresServer::Start();
        ASSERT_TRUE(pg.ok()) << pg.status();
        postgres_ = *std::move(pg);
      }
      static int database_counter = 0;
      auto conninfo = postgres_->CreateDatabase("sink_test_" + std::to_string(++database_counter));
      ASSERT_TRUE(conninfo.ok()) << conninfo.status();
      conninfo_ = *conninfo;
    }
    auto sink = NewSink(0, nullptr);
    ASSERT_TRUE(sink.ok()) << sink.status();
    sink_ = *std::move(sink);
  }

  void TearDown() override {
    sink_.reset();
    testing::RemoveTree(dir_);
  }

  // Another sink on the same store (a restart, or a second writer).
  absl::StatusOr<std::unique_ptr<EventSink>> NewSink(int64_t retention_days,
                                                     const core::Clock* clock) {
    if (GetParam() == Backend::kSqlite) {
      SqliteSinkOptions options;
      options.path = dir_ + "/events.db";
      options.retention_days = retention_days;
      options.clock = clock;
      return NewSqliteSink(options);
    }
    PostgresSinkOptions options;
    options.conninfo = conninfo_;
    options.retention_days = retention_days;
    options.clock = clock;
    return NewPostgresSink(options);
  }

  // Runs `sql_text` (`;`-separated statements) on the store directly, past any sink.
  absl::Status ExecSql(const std::string& sql_text) {
    if (GetParam() == Backend::kSqlite) {
      sqlite3* db = nullptr;
      if (sqlite3_open((dir_ + "/events.db").c_str(), &db) != SQLITE_OK) {
        sqlite3_close(db);
        return absl::InternalError("open");
      }
      char* err = nullptr;
      int rc = sqlite3_exec(db, sql_text.c_str(), nullptr, nullptr, &err);
      std::string msg = err != nullptr ? err : "";
      sqlite3_free(err);
      sqlite3_close(db);
      return rc == SQLITE_OK ? absl::OkStatus() : absl::InternalError(msg);
    }
    PGconn* conn = PQconnectdb(conninfo_.c_str());
    PGresult* r = PQexec(conn, sql_text.c_str());
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    std::string msg = PQerrorMessage(conn);
    PQclear(r);
    PQfinish(conn);
    return ok ? absl::OkStatus() : absl::InternalError(msg);
  }

  int64_t Count(EventSink& sink) {
    auto n = sink.CountEvents();
    EXPECT_TRUE(n.ok()) << n.status();
    return n.ok() ? *n : -1;
  }
  std::vector<HourlyRollup> All(EventSink& sink) {
    auto r = sink.Rollups(kAllFrom, kAllTo);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : std::vector<HourlyRollup>{};
  }

  static std::unique_ptr<testing::PostgresServer> postgres_;
  std::string dir_;
  std::string conninfo_;
  std::unique_ptr<EventSink> sink_;
  std::mt19937_64 rng_{20261101};
  const int64_t t0_ = 1'793'000'000'000;  // 2026-10-26, an hour boundary plus change
};

std::unique_ptr<testing::PostgresServer> EventSinkTest::postgres_;

TEST_P(EventSinkTest, EmptyStoreHasNothing) {
  EXPECT_EQ(Count(*sink_), 0);
  EXPECT_TRUE(All(*sink_).empty());
  EXPECT_TRUE(sink_->Write({}).ok());
}

TEST_P(EventSinkTest, RoundTripCountsAndSums) {
  auto events = RandomEvents(rng_, 60, t0_, 5, "rt-");
  ASSERT_TRUE(sink_->Write(events).ok());
  EXPECT_EQ(Count(*sink_), 60);
  int64_t requests = 0;
  Money total, baseline;
  for (const HourlyRollup& r : All(*sink_)) {
    requests += r.requests;
    total += r.Total();
    baseline += r.baseline;
  }
  Money want_total, want_baseline;
  for (const CostEvent& e : events) {
    want_total += e.Total();
    want_baseline += e.baseline;
  }
  EXPECT_EQ(requests, 60);
  EXPECT_EQ(total, want_total);
  EXPECT_EQ(baseline, want_baseline);
}

TEST_P(EventSinkTest, SameBatchTwiceIsStoredAndCountedOnce) {
  auto events = RandomEvents(rng_, 40, t0_, 3, "dup-");
  ASSERT_TRUE(sink_->Write(events).ok());
  auto before = All(*sink_);
  ASSERT_TRUE(sink_->Write(events).ok());
  EXPECT_EQ(Count(*sink_), 40);
  EXPECT_EQ(All(*sink_), before);
  // A retry that overlaps: half old, half new.
  auto more = RandomEvents(rng_, 20, t0_, 3, "dup-more-");
  std::vector<CostEvent> overlap(events.begin(), events.begin() + 20);
  overlap.insert(overlap.end(), more.begin(), more.end());
  ASSERT_TRUE(sink_->Write(overlap).ok());
  EXPECT_EQ(Count(*sink_), 60);
  std::vector<CostEvent> all = events;
  all.insert(all.end(), more.begin(), more.end());
  EXPECT_EQ(All(*sink_), BruteForce(all, kAllFrom, kAllTo));
}

TEST_P(EventSinkTest, DuplicateInsideOneBatchCountsOnce) {
  auto events = RandomEvents(rng_, 10, t0_, 1, "in-");
  std::vector<CostEvent> batch = events;
  batch.push_back(events[3]);
  batch.push_back(events[3]);
  ASSERT_TRUE(sink_->Write(batch).ok());
  EXPECT_EQ(Count(*sink_), 10);
  EXPECT_EQ(All(*sink_), BruteForce(events, kAllFrom, kAllTo));
}

// One large batch touching more rollup cells than one SQL statement can take parameters for
// (PostgreSQL: 65,535), written twice: the second time every id is a duplicate.
TEST_P(EventSinkTest, OneBatchWithThousandsOfCells) {
  auto events = RandomEvents(rng_, 6000, t0_ - 3 * kMillisPerHour, 400, "big-");
  std::set<std::tuple<int64_t, core::Tier, core::Lang, core::Route, std::string>> cells;
  for (const CostEvent& e : events) {
    cells.insert({HourStartMs(e.ts_unix_ms), e.tier, e.lang, e.route, e.model});
  }
  ASSERT_GT(cells.size(), 1'700u);  // > 65,535 / 39 parameters per cell
  ASSERT_TRUE(sink_->Write(events).ok());
  ASSERT_TRUE(sink_->Write(events).ok());
  EXPECT_EQ(Count(*sink_), 6000);
  EXPECT_EQ(All(*sink_), BruteForce(events, kAllFrom, kAllTo));
}

TEST_P(EventSinkTest, RollupsEqualBruteForceOverRawEvents) {
  auto events = RandomEvents(rng_, 3000, t0_ - 3 * kMillisPerHour, 72, "bf-");
  // Written in uneven batches, with every fifth batch re-sent (a retried spool segment).
  std::vector<CostEvent> written;
  size_t at = 0;
  for (int b = 0; at < events.size(); ++b) {
    size_t n = std::min<size_t>(events.size() - at, 1 + rng_() % 400);
    std::vector<CostEvent> batch(events.begin() + static_cast<long>(at),
                                 events.begin() + static_cast<long>(at + n));
    ASSERT_TRUE(sink_->Write(batch).ok());
    if (b % 5 == 0) {
      ASSERT_TRUE(sink_->Write(batch).ok());
    }
    at += n;
  }
  EXPECT_EQ(Count(*sink_), 3000);
  auto got = All(*sink_);
  auto want = BruteForce(events, kAllFrom, kAllTo);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(got, want);
  // A window: [from, to) on hour starts.
  const int64_t from = HourStartMs(t0_) + 5 * kMillisPerHour, to = from + 17 * kMillisPerHour;
  auto window = sink_->Rollups(from, to);
  ASSERT_TRUE(window.ok()) << window.status();
  EXPECT_EQ(*window, BruteForce(events, from, to));
  EXPECT_FALSE(window->empty());
}

TEST_P(EventSinkTest, SurvivesReopen) {
  auto events = RandomEvents(rng_, 25, t0_, 2, "re-");
  ASSERT_TRUE(sink_->Write(events).ok());
  sink_.reset();
  auto again = NewSink(0, nullptr);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Count(**again), 25);
  ASSERT_TRUE((*again)->Write(events).ok());
  EXPECT_EQ(Count(**again), 25);
  EXPECT_EQ(All(**again), BruteForce(events, kAllFrom, kAllTo));
}

TEST_P(EventSinkTest, RetentionDeletesOldRawEventsButKeepsRollups) {
  core::ManualClock clock(absl::FromUnixMillis(t0_));
  auto sink = NewSink(/*retention_days=*/7, &clock);
  ASSERT_TRUE(sink.ok()) << sink.status();
  auto recent = RandomEvents(rng_, 30, t0_ - 2 * kMillisPerDay, 24, "recent-");
  auto too_old = RandomEvents(rng_, 5, t0_ - 10 * kMillisPerDay, 24, "old-");
  std::vector<CostEvent> batch = recent;
  batch.insert(batch.end(), too_old.begin(), too_old.end());
  ASSERT_TRUE((*sink)->Write(batch).ok());
  // Already past the window on arrival: dropped whole (its id could not be de-duplicated later).
  EXPECT_EQ(Count(**sink), 30);
  EXPECT_EQ(All(**sink), BruteForce(recent, kAllFrom, kAllTo));

  // Six days later the `recent` events are 8+ days old: the next write deletes them.
  clock.Advance(absl::Hours(24 * 6));
  auto fresh = RandomEvents(rng_, 10, t0_ + 6 * kMillisPerDay - kMillisPerHour, 1, "fresh-");
  ASSERT_TRUE((*sink)->Write(fresh).ok());
  EXPECT_EQ(Count(**sink), 10);
  std::vector<CostEvent> rolled = recent;
  rolled.insert(rolled.end(), fresh.begin(), fresh.end());
  EXPECT_EQ(All(**sink), BruteForce(rolled, kAllFrom, kAllTo));
  // Re-sending a deleted event does not count it again.
  ASSERT_TRUE((*sink)->Write(recent).ok());
  EXPECT_EQ(All(**sink), BruteForce(rolled, kAllFrom, kAllTo));
}

// Every field, including the ones kept only in `extra`, comes back through the view.
CostEvent RichEvent(const std::string& id, int64_t ts_ms) {
  CostEvent e = FullEvent();
  e.request_id = id;
  e.ts_unix_ms = ts_ms;
  e.intent_confidence = 0.1f;  // no exact binary form: must come back as the same float
  e.model = "モデル \"quoted\",\tcomma";
  return e;
}

TEST_P(EventSinkTest, EveryFieldComesBackThroughTheView) {
  const CostEvent e = RichEvent("rich-1", t0_);
  ASSERT_TRUE(sink_->Write({e}).ok());
  auto back = sink_->GetEvent("rich-1");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_TRUE(back->has_value());
  // The encoder writes every field in a fixed order: equal bytes, equal events.
  EXPECT_EQ(EncodeCostEventJson(**back), EncodeCostEventJson(e));

  auto none = sink_->GetEvent("never-stored");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
}

// A store created before `extra` (its column `raw` held the whole event) is renamed in place when
// a sink opens it: old rows read back whole and new ones are written beside them.
TEST_P(EventSinkTest, OpensAStoreWrittenWithTheRawColumn) {
  sink_.reset();
  const bool sqlite = GetParam() == Backend::kSqlite;
  std::string old_schema = sql::CreateSchemaSql(sqlite ? sql::Dialect::kSqlite
                                                       : sql::Dialect::kPostgres);
  old_schema = old_schema.substr(0, old_schema.find(";\n") + 2);  // CREATE TABLE cost_events
  const size_t extra = old_schema.find("extra TEXT NOT NULL");
  ASSERT_NE(extra, std::string::npos) << old_schema;
  old_schema.replace(extra, 5, "raw");
  CostEvent old = RichEvent("old-1", t0_);
  old.usage = {};
  old.cost = {};
  old.baseline = Money();
  old.baseline_cost = {};
  old.savings = {};
  const std::string json = EncodeCostEventJson(old);
  std::string insert = absl::StrCat(
      "INSERT INTO cost_events (request_id, ts_ms, hour_ms, tenant, intent, http_status, "
      "degraded_level, tier, lang, route, model, raw) VALUES ('old-1', ",
      t0_, ", ", HourStartMs(t0_), ", 'acme', 'product_search', 203, 2, 'premium', 'mixed', ",
      "'semantic_cache', '", absl::StrReplaceAll(old.model, {{"'", "''"}}), "', '",
      absl::StrReplaceAll(json, {{"'", "''"}}), "')");
  // SetUp's sink made the current schema: replace it with the old one.
  absl::Status made = ExecSql(absl::StrCat(
      "DROP VIEW cost_events_json; DROP TABLE cost_events; ", old_schema, insert));
  ASSERT_TRUE(made.ok()) << made;

  auto sink = NewSink(0, nullptr);
  ASSERT_TRUE(sink.ok()) << sink.status();
  auto back = (*sink)->GetEvent("old-1");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_TRUE(back->has_value());
  EXPECT_EQ(EncodeCostEventJson(**back), json);
  const CostEvent fresh = RichEvent("new-1", t0_ + 1);
  ASSERT_TRUE((*sink)->Write({fresh}).ok());
  EXPECT_EQ(Count(**sink), 2);
  auto again = (*sink)->GetEvent("new-1");
  ASSERT_TRUE(again.ok() && again->has_value()) << again.status();
  EXPECT_EQ(EncodeCostEventJson(**again), EncodeCostEventJson(fresh));
}

INSTANTIATE_TEST_SUITE_P(AllSinks, EventSinkTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), BackendName);

}  // namespace
}  // namespace mangaassist::telemetry
