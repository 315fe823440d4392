#include "control/ledger.h"

#include <libpq-fe.h>
#include <sqlite3.h>

#include <algorithm>
#include <deque>
#include <map>
#include <filesystem>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "core/strings.h"
#include "spdlog/spdlog.h"

namespace mangaassist::control {
namespace {

constexpr size_t kMaxBatch = 512;
constexpr absl::Duration kLinger = absl::Milliseconds(20);
constexpr absl::Duration kRetry = absl::Seconds(1);

// The queue and the writer thread; backends write batches and answer queries.
class BatchedLedger : public Ledger {
 public:
  void Append(LedgerRow row) override {
    absl::MutexLock lock(&mu_);
    queue_.push_back(std::move(row));
    ++appended_;
  }

  absl::Status Flush() override {
    absl::MutexLock lock(&mu_);
    const int64_t target = appended_;
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return written_ >= target || !last_error_.ok();
    };
    mu_.Await(absl::Condition(&done));
    return written_ >= target ? absl::OkStatus() : last_error_;
  }

 protected:
  void Start() { writer_ = std::thread([this] { Loop(); }); }

  // Stops the writer after it has written what is queued (or failed to).
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    if (writer_.joinable()) writer_.join();
  }

  virtual absl::Status WriteBatch(const std::vector<LedgerRow>& rows) = 0;

 private:
  void Loop() {
    for (;;) {
      std::vector<LedgerRow> batch;
      {
        absl::MutexLock lock(&mu_);
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return !queue_.empty() || stopping_;
        };
        mu_.Await(absl::Condition(&ready));
        if (queue_.empty() && stopping_) return;
        if (queue_.size() < kMaxBatch && !stopping_) {
          auto full = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
            return queue_.size() >= kMaxBatch || stopping_;
          };
          mu_.AwaitWithTimeout(absl::Condition(&full), kLinger);
        }
        const size_t n = std::min(queue_.size(), kMaxBatch);
        batch.assign(std::make_move_iterator(queue_.begin()),
                     std::make_move_iterator(queue_.begin() + static_cast<long>(n)));
        queue_.erase(queue_.begin(), queue_.begin() + static_cast<long>(n));
      }
      absl::Status st = WriteBatch(batch);
      absl::MutexLock lock(&mu_);
      if (st.ok()) {
        written_ += static_cast<int64_t>(batch.size());
        last_error_ = absl::OkStatus();
        continue;
      }
      // Nothing is dropped: the batch goes back to the front and is retried.
      spdlog::error("budget ledger: write failed ({}); retrying", core::ToStd(st.message()));
      last_error_ = st;
      for (auto it = batch.rbegin(); it != batch.rend(); ++it) queue_.push_front(std::move(*it));
      if (stopping_ && ++stop_retries_ > 3) {
        spdlog::error("budget ledger: {} rows not written at shutdown", queue_.size());
        return;
      }
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), kRetry);
    }
  }

  absl::Mutex mu_;
  std::deque<LedgerRow> queue_ ABSL_GUARDED_BY(mu_);
  int64_t appended_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t written_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int stop_retries_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread writer_;
};

void AddSpend(DaySpend* d, const std::string& tenant, const std::string& key, int64_t nanos,
              int64_t rows) {
  core::Money m = core::Money::FromNanos(nanos);
  d->deployment += m;
  d->tenants[tenant] += m;
  if (!key.empty()) d->keys[key] += m;
  d->rows += rows;
}

// --- SQLite ---------------------------------------------------------------------------------

constexpr const char* kSqliteSchema = R"sql(
CREATE TABLE IF NOT EXISTS budget_ledger (
  request_id TEXT PRIMARY KEY, day TEXT NOT NULL, ts_ms INTEGER NOT NULL, tenant TEXT NOT NULL,
  key_name TEXT NOT NULL, model TEXT NOT NULL, reserved_nanos INTEGER NOT NULL,
  actual_nanos INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS budget_ledger_day ON budget_ledger (day);
CREATE TRIGGER IF NOT EXISTS budget_ledger_no_update BEFORE UPDATE ON budget_ledger
  BEGIN SELECT RAISE(ABORT, 'budget_ledger rows are immutable'); END;
CREATE TRIGGER IF NOT EXISTS budget_ledger_no_delete BEFORE DELETE ON budget_ledger
  BEGIN SELECT RAISE(ABORT, 'budget_ledger rows are immutable'); END;
)sql";

class SqliteLedger final : public BatchedLedger {
 public:
  ~SqliteLedger() override {
    Stop();
    if (insert_ != nullptr) sqlite3_finalize(insert_);
    if (db_ != nullptr) sqlite3_close(db_);
  }

  absl::Status Open(const std::string& path) {
    std::error_code ec;
    std::filesystem::path p(path);
    if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
    if (sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot open the budget ledger ", path, ": ", db_ ? sqlite3_errmsg(db_) : "no memory"));
    }
    sqlite3_busy_timeout(db_, 5000);
    if (absl::Status s = Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"); !s.ok()) {
      return s;
    }
    if (absl::Status s = Exec(kSqliteSchema); !s.ok()) return s;
    if (sqlite3_prepare_v2(db_,
                           "INSERT INTO budget_ledger VALUES (?,?,?,?,?,?,?,?) "
                           "ON CONFLICT (request_id) DO NOTHING",
                           -1, &insert_, nullptr) != SQLITE_OK) {
      return absl::InternalError(absl::StrCat("budget ledger: ", sqlite3_errmsg(db_)));
    }
    Start();
    return absl::OkStatus();
  }

  absl::StatusOr<DaySpend> SumDay(const std::string& day) override {
    absl::MutexLock lock(&db_mu_);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_,
                           "SELECT tenant, key_name, SUM(actual_nanos), COUNT(*) FROM "
                           "budget_ledger WHERE day = ? GROUP BY tenant, key_name",
                           -1, &st, nullptr) != SQLITE_OK) {
      return absl::InternalError(absl::StrCat("budget ledger: ", sqlite3_errmsg(db_)));
    }
    sqlite3_bind_text(st, 1, day.data(), static_cast<int>(day.size()), SQLITE_TRANSIENT);
    DaySpend d;
    while (sqlite3_step(st) == SQLITE_ROW) {
      AddSpend(&d, Text(st, 0), Text(st, 1), sqlite3_column_int64(st, 2),
               sqlite3_column_int64(st, 3));
    }
    sqlite3_finalize(st);
    return d;
  }

  absl::StatusOr<std::vector<LedgerRow>> Rows(const std::string& day, int limit) override {
    absl::MutexLock lock(&db_mu_);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_,
                           "SELECT request_id, day, ts_ms, tenant, key_name, model, "
                           "reserved_nanos, actual_nanos FROM budget_ledger WHERE day = ? "
                           "ORDER BY ts_ms DESC LIMIT ?",
                           -1, &st, nullptr) != SQLITE_OK) {
      return absl::InternalError(absl::StrCat("budget ledger: ", sqlite3_errmsg(db_)));
    }
    sqlite3_bind_text(st, 1, day.data(), static_cast<int>(day.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, limit);
    std::vector<LedgerRow> rows;
    while (sqlite3_step(st) == SQLITE_ROW) {
      rows.push_back(LedgerRow{Text(st, 0), Text(st, 1), sqlite3_column_int64(st, 2),
                               Text(st, 3), Text(st, 4), Text(st, 5),
                               core::Money::FromNanos(sqlite3_column_int64(st, 6)),
                               core::Money::FromNanos(sqlite3_column_int64(st, 7))});
    }
    sqlite3_finalize(st);
    return rows;
  }

  std::string_view backend() const override { return "sqlite"; }

 protected:
  absl::Status WriteBatch(const std::vector<LedgerRow>& rows) override {
    absl::MutexLock lock(&db_mu_);
    if (absl::Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
    for (const LedgerRow& r : rows) {
      sqlite3_reset(insert_);
      sqlite3_bind_text(insert_, 1, r.request_id.data(), static_cast<int>(r.request_id.size()),
                        SQLITE_STATIC);
      sqlite3_bind_text(insert_, 2, r.day.data(), static_cast<int>(r.day.size()), SQLITE_STATIC);
      sqlite3_bind_int64(insert_, 3, r.ts_ms);
      sqlite3_bind_text(insert_, 4, r.tenant.data(), static_cast<int>(r.tenant.size()),
                        SQLITE_STATIC);
      sqlite3_bind_text(insert_, 5, r.key_name.data(), static_cast<int>(r.key_name.size()),
                        SQLITE_STATIC);
      sqlite3_bind_text(insert_, 6, r.model.data(), static_cast<int>(r.model.size()),
                        SQLITE_STATIC);
      sqlite3_bind_int64(insert_, 7, r.reserved.nanos());
      sqlite3_bind_int64(insert_, 8, r.actual.nanos());
      if (sqlite3_step(insert_) != SQLITE_DONE) {
        absl::Status s = absl::InternalError(absl::StrCat("budget ledger insert: ",
                                                          sqlite3_errmsg(db_)));
        (void)Exec("ROLLBACK");
        return s;
      }
    }
    return Exec("COMMIT");
  }

 private:
  static std::string Text(sqlite3_stmt* st, int col) {
    const unsigned char* t = sqlite3_column_text(st, col);
    return t == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(t));
  }

  absl::Status Exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      absl::Status s = absl::InternalError(absl::StrCat("budget ledger: ", err ? err : "error"));
      sqlite3_free(err);
      return s;
    }
    return absl::OkStatus();
  }

  absl::Mutex db_mu_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
};

// --- PostgreSQL -----------------------------------------------------------------------------

constexpr const char* kPgSchema = R"sql(
SELECT pg_advisory_xact_lock(7208412);
CREATE TABLE IF NOT EXISTS budget_ledger (
  request_id TEXT PRIMARY KEY, day TEXT NOT NULL, ts_ms BIGINT NOT NULL, tenant TEXT NOT NULL,
  key_name TEXT NOT NULL, model TEXT NOT NULL, reserved_nanos BIGINT NOT NULL,
  actual_nanos BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS budget_ledger_day ON budget_ledger (day);
CREATE OR REPLACE FUNCTION budget_ledger_immutable() RETURNS trigger AS $$
  BEGIN RAISE EXCEPTION 'budget_ledger rows are immutable'; END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS budget_ledger_immutable ON budget_ledger;
CREATE TRIGGER budget_ledger_immutable BEFORE UPDATE OR DELETE ON budget_ledger
  FOR EACH ROW EXECUTE FUNCTION budget_ledger_immutable();
)sql";

class PgLedger final : public BatchedLedger {
 public:
  explicit PgLedger(std::string conninfo) : conninfo_(std::move(conninfo)) {}
  ~PgLedger() override {
    Stop();
    if (conn_ != nullptr) PQfinish(conn_);
  }

  absl::Status Open() {
    absl::MutexLock lock(&db_mu_);
    if (absl::Status s = Connect(); !s.ok()) return s;
    Start();
    return absl::OkStatus();
  }

  absl::StatusOr<DaySpend> SumDay(const std::string& day) override {
    absl::MutexLock lock(&db_mu_);
    if (absl::Status s = Connect(); !s.ok()) return s;
    const char* params[] = {day.c_str()};
    PGresult* res = PQexecParams(conn_,
                                 "SELECT tenant, key_name, SUM(actual_nanos)::BIGINT, COUNT(*) "
                                 "FROM budget_ledger WHERE day = $1 GROUP BY tenant, key_name",
                                 1, nullptr, params, nullptr, nullptr, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) return Fail(res, "sum");
    DaySpend d;
    for (int i = 0; i < PQntuples(res); ++i) {
      int64_t nanos = 0, rows = 0;
      (void)absl::SimpleAtoi(PQgetvalue(res, i, 2), &nanos);
      (void)absl::SimpleAtoi(PQgetvalue(res, i, 3), &rows);
      AddSpend(&d, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), nanos, rows);
    }
    PQclear(res);
    return d;
  }

  absl::StatusOr<std::vector<LedgerRow>> Rows(const std::string& day, int limit) override {
    absl::MutexLock lock(&db_mu_);
    if (absl::Status s = Connect(); !s.ok()) return s;
    std::string lim = absl::StrCat(limit);
    const char* params[] = {day.c_str(), lim.c_str()};
    PGresult* res = PQexecParams(conn_,
                                 "SELECT request_id, day, ts_ms, tenant, key_name, model, "
                                 "reserved_nanos, actual_nanos FROM budget_ledger WHERE day = $1 "
                                 "ORDER BY ts_ms DESC LIMIT $2::INT",
                                 2, nullptr, params, nullptr, nullptr, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) return Fail(res, "rows");
    std::vector<LedgerRow> rows;
    for (int i = 0; i < PQntuples(res); ++i) {
      LedgerRow r{PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), 0, PQgetvalue(res, i, 3),
                  PQgetvalue(res, i, 4), PQgetvalue(res, i, 5), {}, {}};
      int64_t v = 0;
      (void)absl::SimpleAtoi(PQgetvalue(res, i, 2), &r.ts_ms);
      (void)absl::SimpleAtoi(PQgetvalue(res, i, 6), &v);
      r.reserved = core::Money::FromNanos(v);
      (void)absl::SimpleAtoi(PQgetvalue(res, i, 7), &v);
      r.actual = core::Money::FromNanos(v);
      rows.push_back(std::move(r));
    }
    PQclear(res);
    return rows;
  }

  std::string_view backend() const override { return "postgres"; }

 protected:
  absl::Status WriteBatch(const std::vector<LedgerRow>& rows) override {
    absl::MutexLock lock(&db_mu_);
    if (absl::Status s = Connect(); !s.ok()) return s;
    // One multi-row INSERT per batch.
    std::string sql =
        "INSERT INTO budget_ledger (request_id, day, ts_ms, tenant, key_name, model, "
        "reserved_nanos, actual_nanos) VALUES ";
    std::vector<std::string> values;
    values.reserve(rows.size() * 8);
    for (size_t i = 0; i < rows.size(); ++i) {
      const LedgerRow& r = rows[i];
      absl::StrAppend(&sql, i ? "," : "", "($", i * 8 + 1, ",$", i * 8 + 2, ",$", i * 8 + 3,
                      "::BIGINT,$", i * 8 + 4, ",$", i * 8 + 5, ",$", i * 8 + 6, ",$", i * 8 + 7,
                      "::BIGINT,$", i * 8 + 8, "::BIGINT)");
      values.push_back(r.request_id);
      values.push_back(r.day);
      values.push_back(absl::StrCat(r.ts_ms));
      values.push_back(r.tenant);
      values.push_back(r.key_name);
      values.push_back(r.model);
      values.push_back(absl::StrCat(r.reserved.nanos()));
      values.push_back(absl::StrCat(r.actual.nanos()));
    }
    sql += " ON CONFLICT (request_id) DO NOTHING";
    std::vector<const char*> params;
    for (const std::string& v : values) params.push_back(v.c_str());
    PGresult* res = PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr,
                                 params.data(), nullptr, nullptr, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) return Fail(res, "insert");
    PQclear(res);
    return absl::OkStatus();
  }

 private:
  absl::Status Connect() ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mu_) {
    if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK) return absl::OkStatus();
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = PQconnectdb(conninfo_.c_str());
    if (PQstatus(conn_) != CONNECTION_OK) {
      std::string msg = PQerrorMessage(conn_);
      PQfinish(conn_);
      conn_ = nullptr;
      return absl::UnavailableError(absl::StrCat("budget ledger: connect: ", msg));
    }
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
    PGresult* res = PQexec(conn_, absl::StrCat("BEGIN;", kPgSchema, "COMMIT;").c_str());
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
      absl::Status s = Fail(res, "schema");
      PGresult* rb = PQexec(conn_, "ROLLBACK");
      PQclear(rb);
      return s;
    }
    PQclear(res);
    return absl::OkStatus();
  }

  absl::Status Fail(PGresult* res, std::string_view what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mu_) {
    std::string msg = absl::StrCat("budget ledger ", core::ToAbsl(what), ": ", PQerrorMessage(conn_));
    PQclear(res);
    if (PQstatus(conn_) != CONNECTION_OK) return absl::UnavailableError(msg);
    return absl::InternalError(msg);
  }

  const std::string conninfo_;
  absl::Mutex db_mu_;
  PGconn* conn_ ABSL_GUARDED_BY(db_mu_) = nullptr;
};

}  // namespace

// --- in-process ------------------------------------------------------------------------------

class MemoryLedger final : public Ledger {
 public:
  void Append(LedgerRow row) override {
    absl::MutexLock lock(&mu_);
    Day& d = days_[row.day];
    if (!d.ids.insert(row.request_id).second) return;  // a retried write changes nothing
    if (d.ids.size() == 1) ForgetOlderDays(row.day);
    d.spend.deployment += row.actual;
    d.spend.tenants[row.tenant] += row.actual;
    if (!row.key_name.empty()) d.spend.keys[row.key_name] += row.actual;
    ++d.spend.rows;
    d.recent.push_back(std::move(row));
    if (d.recent.size() > kMemoryLedgerRowsPerDay) d.recent.pop_front();
  }
  absl::Status Flush() override { return absl::OkStatus(); }
  absl::StatusOr<DaySpend> SumDay(const std::string& day) override {
    absl::MutexLock lock(&mu_);
    auto it = days_.find(day);
    return it == days_.end() ? DaySpend{} : it->second.spend;
  }
  absl::StatusOr<std::vector<LedgerRow>> Rows(const std::string& day, int limit) override {
    absl::MutexLock lock(&mu_);
    std::vector<LedgerRow> out;
    auto it = days_.find(day);
    if (it == days_.end()) return out;
    std::vector<const LedgerRow*> rows;
    for (const LedgerRow& r : it->second.recent) rows.push_back(&r);
    std::stable_sort(rows.begin(), rows.end(),
                     [](const LedgerRow* a, const LedgerRow* b) { return a->ts_ms > b->ts_ms; });
    for (const LedgerRow* r : rows) {
      if (static_cast<int>(out.size()) >= limit) break;
      out.push_back(*r);
    }
    return out;
  }
  std::string_view backend() const override { return "memory"; }

 private:
  struct Day {
    DaySpend spend;
    absl::flat_hash_set<std::string> ids;
    std::deque<LedgerRow> recent;
  };

  // A new day started: keep the ids and rows of `today` and the most recent other day only.
  void ForgetOlderDays(const std::string& today) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<std::string> with_ids;
    for (const auto& [day, d] : days_) {
      if (day != today && !d.ids.empty()) with_ids.push_back(day);
    }
    std::sort(with_ids.begin(), with_ids.end());
    for (size_t i = 0; i + 1 < with_ids.size(); ++i) {
      Day& old = days_[with_ids[i]];
      absl::flat_hash_set<std::string>().swap(old.ids);
      std::deque<LedgerRow>().swap(old.recent);
    }
  }

  absl::Mutex mu_;
  std::map<std::string, Day> days_ ABSL_GUARDED_BY(mu_);
};

std::unique_ptr<Ledger> OpenMemoryLedger() { return std::make_unique<MemoryLedger>(); }

absl::StatusOr<std::unique_ptr<Ledger>> OpenSqliteLedger(const std::string& path) {
  auto l = std::make_unique<SqliteLedger>();
  if (absl::Status s = l->Open(path); !s.ok()) return s;
  return std::unique_ptr<Ledger>(std::move(l));
}

absl::StatusOr<std::unique_ptr<Ledger>> OpenPostgresLedger(const std::string& conninfo) {
  auto l = std::make_unique<PgLedger>(conninfo);
  if (absl::Status s = l->Open(); !s.ok()) return s;
  return std::unique_ptr<Ledger>(std::move(l));
}

}  // namespace mangaassist::control
