#include "telemetry/sqlite_sink.h"

#include <sqlite3.h>

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "telemetry/event_codec.h"
#include "telemetry/sql/cost_schema.h"

namespace mangaassist::telemetry {
namespace {

struct CellLess {
  bool operator()(const HourlyRollup& a, const HourlyRollup& b) const {
    return RollupCellLess(a, b);
  }
};

// A prepared statement, finalized on destruction and reset after each use.
class Stmt {
 public:
  Stmt() = default;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(stmt_); }
  sqlite3_stmt** out() { return &stmt_; }
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

void BindText(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

std::string Placeholders(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) absl::StrAppend(&out, i ? ", ?" : "?");
  return out;
}

class SqliteSink final : public EventSink {
 public:
  explicit SqliteSink(SqliteSinkOptions options)
      : options_(std::move(options)),
        clock_(options_.clock != nullptr ? options_.clock : &core::SystemClock()) {}
  ~SqliteSink() override {
    absl::MutexLock lock(&mu_);
    // Statements first: sqlite3_close refuses a connection with live statements.
    begin_.reset();
    commit_.reset();
    rollback_.reset();
    delete_old_.reset();
    insert_event_.reset();
    upsert_rollup_.reset();
    query_rollups_.reset();
    count_.reset();
    get_event_.reset();
    sqlite3_close(db_);
  }

  absl::Status Open() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (sqlite3_open_v2(options_.path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot open SQLite sink ", options_.path, ": ",
                       db_ ? sqlite3_errmsg(db_) : "out of memory"));
    }
    sqlite3_busy_timeout(db_, options_.busy_timeout_ms);
    // WAL: readers (reports, the dashboard) never block the writer. synchronous=FULL because a
    // committed batch lets the spool drop its copy: cost must survive a power cut too.
    if (absl::Status s = Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"); !s.ok()) {
      return s;
    }
    if (absl::Status s = RenameRawColumn(); !s.ok()) return s;
    if (absl::Status s = Exec(sql::CreateSchemaSql(sql::Dialect::kSqlite)); !s.ok()) return s;

    const auto& cols = sql::EventColumns();
    const auto& measures = sql::MeasureColumns();
    struct {
      std::unique_ptr<Stmt>* stmt;
      std::string sql;
    } statements[] = {
        {&begin_, "BEGIN IMMEDIATE"},
        {&commit_, "COMMIT"},
        {&rollback_, "ROLLBACK"},
        {&delete_old_, "DELETE FROM cost_events WHERE ts_ms < ?"},
        {&insert_event_,
         absl::StrCat("INSERT INTO cost_events (", absl::StrJoin(cols, ", "), ") VALUES (",
                      Placeholders(cols.size()), ") ON CONFLICT (request_id) DO NOTHING")},
        {&upsert_rollup_,
         sql::RollupUpsertSql(absl::StrCat("VALUES (", Placeholders(6 + measures.size()), ")"))},
        {&query_rollups_, sql::RollupQuerySql(sql::Dialect::kSqlite)},
        {&count_, "SELECT COUNT(*) FROM cost_events"},
        {&get_event_, sql::EventJsonQuerySql(sql::Dialect::kSqlite)},
    };
    for (auto& st : statements) {
      *st.stmt = std::make_unique<Stmt>();
      if (sqlite3_prepare_v2(db_, st.sql.c_str(), -1, (*st.stmt)->out(), nullptr) != SQLITE_OK) {
        return absl::InternalError(absl::StrCat("prepare `", st.sql, "`: ", sqlite3_errmsg(db_)));
      }
    }
    return absl::OkStatus();
  }

  absl::Status WriteEncoded(const std::vector<EncodedEvent>& batch) override
      ABSL_LOCKS_EXCLUDED(mu_) {
    if (batch.empty()) return absl::OkStatus();
    absl::MutexLock lock(&mu_);
    const int64_t horizon =
        options_.retention_days > 0
            ? absl::ToUnixMillis(clock_->Now()) - options_.retention_days * kMillisPerDay
            : std::numeric_limits<int64_t>::min();
    if (absl::Status s = Step(begin_.get()); !s.ok()) return s;
    absl::Status status = WriteInTransaction(batch, horizon);
    if (status.ok()) status = Step(commit_.get());
    if (!status.ok() && !sqlite3_get_autocommit(db_)) {
      // Nothing of the batch stays; the caller retries it whole.
      (void)Step(rollback_.get());
    }
    return status;
  }

  absl::StatusOr<std::vector<HourlyRollup>> Rollups(int64_t from_ms, int64_t to_ms) override
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    sqlite3_stmt* s = query_rollups_->get();
    sqlite3_bind_int64(s, 1, from_ms);
    sqlite3_bind_int64(s, 2, to_ms);
    std::vector<HourlyRollup> out;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      HourlyRollup r;
      r.hour_start_ms = sqlite3_column_int64(s, 0);
      auto text = [s](int i) {
        const unsigned char* t = sqlite3_column_text(s, i);
        return std::string(t ? reinterpret_cast<const char*>(t) : "",
                           static_cast<size_t>(sqlite3_column_bytes(s, i)));
      };
      if (absl::Status st = sql::ParseDimensions(text(1), text(2), text(3), &r); !st.ok()) {
        sqlite3_reset(s);
        return st;
      }
      r.model = text(4);
      r.requests = sqlite3_column_int64(s, 5);
      std::array<int64_t, sql::kMeasureCount> m{};
      for (size_t i = 0; i < m.size(); ++i) m[i] = sqlite3_column_int64(s, 6 + static_cast<int>(i));
      sql::AddMeasures(m, &r);
      out.push_back(std::move(r));
    }
    absl::Status status = rc == SQLITE_DONE ? absl::OkStatus() : Error("query rollups");
    sqlite3_reset(s);
    if (!status.ok()) return status;
    std::sort(out.begin(), out.end(), RollupCellLess);
    return out;
  }

  absl::StatusOr<int64_t> CountEvents() override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    sqlite3_stmt* s = count_->get();
    int rc = sqlite3_step(s);
    int64_t n = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW) return Error("count events");
    return n;
  }

  absl::StatusOr<std::optional<CostEvent>> GetEvent(std::string_view request_id) override
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    sqlite3_stmt* s = get_event_->get();
    BindText(s, 1, request_id);
    int rc = sqlite3_step(s);
    std::string json;
    if (rc == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(s, 0);
      json.assign(t ? reinterpret_cast<const char*>(t) : "",
                  static_cast<size_t>(sqlite3_column_bytes(s, 0)));
    }
    absl::Status status =
        rc == SQLITE_ROW || rc == SQLITE_DONE ? absl::OkStatus() : Error("get event");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (!status.ok()) return status;
    if (rc == SQLITE_DONE) return std::nullopt;
    absl::StatusOr<CostEvent> event = DecodeCostEventJson(json);
    if (!event.ok()) return event.status();
    return std::optional<CostEvent>(*std::move(event));
  }

 private:
  // Stores written before `extra` existed have `raw` (the whole event's JSON), which merges into
  // the same event in the view: the column is renamed in place.
  absl::Status RenameRawColumn() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Stmt info;
    if (sqlite3_prepare_v2(db_, "PRAGMA table_info(cost_events)", -1, info.out(), nullptr) !=
        SQLITE_OK) {
      return Error("table_info");
    }
    bool has_raw = false;
    while (sqlite3_step(info.get()) == SQLITE_ROW) {
      const unsigned char* name = sqlite3_column_text(info.get(), 1);
      if (name != nullptr && std::string_view(reinterpret_cast<const char*>(name)) == "raw") {
        has_raw = true;
      }
    }
    if (!has_raw) return absl::OkStatus();
    return Exec("ALTER TABLE cost_events RENAME COLUMN raw TO extra");
  }

  absl::Status WriteInTransaction(const std::vector<EncodedEvent>& batch, int64_t horizon)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (options_.retention_days > 0) {
      sqlite3_bind_int64(delete_old_->get(), 1, horizon);
      if (absl::Status s = Step(delete_old_.get()); !s.ok()) return s;
    }
    // Rollup deltas of the rows actually inserted, aggregated here: one upsert per cell.
    std::map<HourlyRollup, HourlyRollup, CellLess> cells;
    sqlite3_stmt* ins = insert_event_->get();
    for (const EncodedEvent& encoded : batch) {
      const CostEvent& e = encoded.event;
      if (e.ts_unix_ms < horizon) continue;  // see EventSink::WriteEncoded
      int i = 1;
      BindText(ins, i++, e.request_id);
      sqlite3_bind_int64(ins, i++, e.ts_unix_ms);
      sqlite3_bind_int64(ins, i++, HourStartMs(e.ts_unix_ms));
      BindText(ins, i++, e.tenant);
      BindText(ins, i++, e.intent);
      sqlite3_bind_int(ins, i++, e.http_status);
      sqlite3_bind_int(ins, i++, e.degraded_level);
      BindText(ins, i++, core::TierName(e.tier));
      BindText(ins, i++, core::LangName(e.lang));
      BindText(ins, i++, core::RouteName(e.route));
      BindText(ins, i++, e.model);
      for (int64_t v : sql::MeasuresOf(e)) sqlite3_bind_int64(ins, i++, v);
      const std::string extra = EncodeCostEventExtraJson(e);
      sqlite3_bind_text(ins, i++, extra.data(), static_cast<int>(extra.size()),
                        SQLITE_STATIC);  // outlives the step
      if (absl::Status s = Step(insert_event_.get()); !s.ok()) return s;
      if (sqlite3_changes(db_) == 1) {
        HourlyRollup cell = RollupCellOf(e);
        auto it = cells.try_emplace(cell, cell).first;
        it->second.Add(e);
      }
    }
    sqlite3_stmt* up = upsert_rollup_->get();
    for (const auto& [key, r] : cells) {
      int i = 1;
      sqlite3_bind_int64(up, i++, r.hour_start_ms);
      BindText(up, i++, core::TierName(r.tier));
      BindText(up, i++, core::LangName(r.lang));
      BindText(up, i++, core::RouteName(r.route));
      BindText(up, i++, r.model);
      sqlite3_bind_int64(up, i++, r.requests);
      for (int64_t v : sql::MeasuresOfRollup(r)) sqlite3_bind_int64(up, i++, v);
      if (absl::Status s = Step(upsert_rollup_.get()); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // Runs a statement that returns no rows, then resets it and clears its bindings.
  absl::Status Step(Stmt* stmt) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    int rc = sqlite3_step(stmt->get());
    absl::Status status =
        rc == SQLITE_DONE || rc == SQLITE_ROW ? absl::OkStatus() : Error(sqlite3_sql(stmt->get()));
    sqlite3_reset(stmt->get());
    sqlite3_clear_bindings(stmt->get());
    return status;
  }

  absl::Status Exec(const std::string& sql_text) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql_text.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      return absl::InternalError(absl::StrCat("SQLite sink ", options_.path, ": ", msg));
    }
    return absl::OkStatus();
  }

  // A busy or locked database is transient (another writer); everything else is not.
  absl::Status Error(std::string_view what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    int code = sqlite3_errcode(db_);
    std::string msg = absl::StrCat("SQLite sink ", options_.path, ": ", std::string(what), ": ",
                                   sqlite3_errmsg(db_));
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return absl::UnavailableError(msg);
    return absl::InternalError(msg);
  }

  const SqliteSinkOptions options_;
  const core::Clock* const clock_;
  absl::Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::unique_ptr<Stmt> begin_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Stmt> commit_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Stmt> rollback_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Stmt> delete_old_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Stmt> insert_event_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Stmt> upsert_rollup_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Stmt> query_rollups_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Stmt> count_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Stmt> get_event_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<EventSink>> NewSqliteSink(const SqliteSinkOptions& options) {
  auto sink = std::make_unique<SqliteSink>(options);
  if (absl::Status s = sink->Open(); !s.ok()) return s;
  return sink;
}

}  // namespace mangaassist::telemetry
