#include "telemetry/pg_sink.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "telemetry/event_codec.h"
#include "telemetry/sql/cost_schema.h"

namespace mangaassist::telemetry {
namespace {

// The per-session staging table COPY writes into; emptied by every COMMIT or ROLLBACK.
// Any fixed 64-bit number: the advisory lock that serializes schema creation.
constexpr int64_t kSchemaLockKey = 0x4d41434f5354;  // "MACOST"

constexpr const char* kCreateStaging =
    "CREATE TEMP TABLE IF NOT EXISTS cost_events_stage (LIKE cost_events INCLUDING DEFAULTS) "
    "ON COMMIT DELETE ROWS";

void AppendCsvText(std::string* out, std::string_view v) {
  out->push_back('"');
  for (char c : v) {
    if (c == '"') out->push_back('"');
    if (c != '\0') out->push_back(c);  // PostgreSQL text cannot hold NUL
  }
  out->push_back('"');
}

void AppendCsvRow(std::string* out, const CostEvent& e) {
  AppendCsvText(out, e.request_id);
  absl::StrAppend(out, ",", e.ts_unix_ms, ",", HourStartMs(e.ts_unix_ms), ",");
  AppendCsvText(out, e.tenant);
  out->push_back(',');
  AppendCsvText(out, e.intent);
  absl::StrAppend(out, ",", e.http_status, ",", e.degraded_level, ",");
  AppendCsvText(out, core::TierName(e.tier));
  out->push_back(',');
  AppendCsvText(out, core::LangName(e.lang));
  out->push_back(',');
  AppendCsvText(out, core::RouteName(e.route));
  out->push_back(',');
  AppendCsvText(out, e.model);
  for (int64_t v : sql::MeasuresOf(e)) absl::StrAppend(out, ",", v);
  out->push_back(',');
  AppendCsvText(out, EncodeCostEventJson(e));
  out->push_back('\n');
}

// The raw insert feeding the rollup upsert through a data-modifying CTE: `ins` holds exactly the
// rows inserted, so duplicates (ON CONFLICT DO NOTHING) never reach the rollup. The rollup
// SELECT over `ins` is plain standard SQL (sql::RollupSelectSql, Redshift-compatible); the
// ON CONFLICT upsert is PostgreSQL's (MERGE on Redshift).
std::string InsertAndRollupSql() {
  const auto& cols = sql::EventColumns();
  std::string returning = "hour_ms, tier, lang, route, model";
  for (const std::string& m : sql::MeasureColumns()) absl::StrAppend(&returning, ", ", m);
  return absl::StrCat("WITH ins AS (INSERT INTO cost_events (", absl::StrJoin(cols, ", "),
                      ") SELECT ", absl::StrJoin(cols, ", "),
                      " FROM cost_events_stage WHERE ts_ms >= $1"
                      " ON CONFLICT (request_id) DO NOTHING RETURNING ",
                      returning, "), up AS (", sql::RollupUpsertSql(sql::RollupSelectSql("ins")),
                      ") SELECT COUNT(*) FROM ins");
}

// Owns a PGresult.
struct Result {
  explicit Result(PGresult* r) : res(r) {}
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  ~Result() { PQclear(res); }
  PGresult* res;
};

}  // namespace

absl::StatusOr<std::unique_ptr<PgEventStore>> PgEventStore::Connect(const std::string& conninfo,
                                                                    int statement_timeout_ms) {
  std::unique_ptr<PgEventStore> store(new PgEventStore(conninfo, statement_timeout_ms));
  if (absl::Status s = store->EnsureConnected(); !s.ok()) return s;
  return store;
}

PgEventStore::~PgEventStore() {
  if (conn_ != nullptr) PQfinish(conn_);
}

absl::Status PgEventStore::EnsureConnected() {
  if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK) return absl::OkStatus();
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = PQconnectdb(conninfo_.c_str());
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn_);
    PQfinish(conn_);
    conn_ = nullptr;
    return absl::UnavailableError(absl::StrCat("PostgreSQL event store: connect: ", msg));
  }
  // IF NOT EXISTS notices ("relation already exists, skipping") are expected, not news.
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);
  if (absl::Status s = Exec(absl::StrCat("SET statement_timeout = ", statement_timeout_ms_));
      !s.ok()) {
    return s;
  }
  // The schema, under a transaction-scoped advisory lock: replicas and shippers start together,
  // and concurrent CREATE TABLE IF NOT EXISTS can still collide in PostgreSQL's catalog.
  if (absl::Status s = Exec(absl::StrCat("BEGIN; SELECT pg_advisory_xact_lock(", kSchemaLockKey,
                                         "); ", sql::CreateSchemaSql(sql::Dialect::kPostgres),
                                         "; COMMIT"));
      !s.ok()) {
    (void)Exec("ROLLBACK");
    return s;
  }
  // The session's staging table (gone with every new session).
  return Exec(kCreateStaging);
}

absl::Status PgEventStore::Error(const std::string& what) {
  std::string msg = absl::StrCat("PostgreSQL event store: ", what, ": ",
                                 conn_ ? PQerrorMessage(conn_) : "no connection");
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) return absl::UnavailableError(msg);
  return absl::InternalError(msg);
}

absl::Status PgEventStore::Exec(const std::string& sql_text) {
  Result r(PQexec(conn_, sql_text.c_str()));
  ExecStatusType st = PQresultStatus(r.res);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    return Error(sql_text.substr(0, 60));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> PgEventStore::WriteBatch(
    const std::vector<CostEvent>& batch, int64_t horizon_ms,
    const std::function<absl::Status()>& before_commit) {
  if (absl::Status s = EnsureConnected(); !s.ok()) return s;
  if (batch.empty()) return 0;
  if (absl::Status s = Exec("BEGIN"); !s.ok()) return s;
  int64_t inserted = 0;
  absl::Status status = WriteInTransaction(batch, horizon_ms, before_commit, &inserted);
  if (status.ok()) status = Exec("COMMIT");
  if (!status.ok()) {
    if (PQstatus(conn_) == CONNECTION_OK) PQclear(PQexec(conn_, "ROLLBACK"));
    return status;
  }
  return inserted;
}

absl::Status PgEventStore::WriteInTransaction(const std::vector<CostEvent>& batch,
                                              int64_t horizon_ms,
                                              const std::function<absl::Status()>& before_commit,
                                              int64_t* inserted) {
  const bool retention = horizon_ms != std::numeric_limits<int64_t>::min();
  const std::string horizon = absl::StrCat(horizon_ms);
  const char* params[] = {horizon.c_str()};
  if (retention) {
    Result r(PQexecParams(conn_, "DELETE FROM cost_events WHERE ts_ms < $1", 1, nullptr, params,
                          nullptr, nullptr, 0));
    if (PQresultStatus(r.res) != PGRES_COMMAND_OK) return Error("retention delete");
  }

  // COPY the batch (first occurrence of each request_id) into the staging table.
  std::string csv;
  std::unordered_set<std::string_view> seen;
  for (const CostEvent& e : batch) {
    if (!seen.insert(e.request_id).second) continue;
    AppendCsvRow(&csv, e);
  }
  {
    std::string copy =
        absl::StrCat("COPY cost_events_stage (", absl::StrJoin(sql::EventColumns(), ", "),
                     ") FROM STDIN WITH (FORMAT csv)");
    Result r(PQexec(conn_, copy.c_str()));
    if (PQresultStatus(r.res) != PGRES_COPY_IN) return Error("COPY");
  }
  if (PQputCopyData(conn_, csv.data(), static_cast<int>(csv.size())) != 1 ||
      PQputCopyEnd(conn_, nullptr) != 1) {
    return Error("COPY data");
  }
  absl::Status copy_status;
  while (PGresult* res = PQgetResult(conn_)) {
    Result r(res);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && copy_status.ok())
      copy_status = Error("COPY end");
  }
  if (!copy_status.ok()) return copy_status;

  static const std::string* const kInsert = new std::string(InsertAndRollupSql());
  Result r(PQexecParams(conn_, kInsert->c_str(), 1, nullptr, params, nullptr, nullptr, 0));
  if (PQresultStatus(r.res) != PGRES_TUPLES_OK || PQntuples(r.res) != 1) {
    return Error("insert and roll up");
  }
  *inserted = std::strtoll(PQgetvalue(r.res, 0, 0), nullptr, 10);
  if (before_commit) {
    if (absl::Status s = before_commit(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<HourlyRollup>> PgEventStore::Rollups(int64_t from_ms, int64_t to_ms) {
  if (absl::Status s = EnsureConnected(); !s.ok()) return s;
  static const std::string* const kQuery =
      new std::string(sql::RollupQuerySql(sql::Dialect::kPostgres));
  const std::string from = absl::StrCat(from_ms), to = absl::StrCat(to_ms);
  const char* params[] = {from.c_str(), to.c_str()};
  Result r(PQexecParams(conn_, kQuery->c_str(), 2, nullptr, params, nullptr, nullptr, 0));
  if (PQresultStatus(r.res) != PGRES_TUPLES_OK) return Error("query rollups");
  std::vector<HourlyRollup> out;
  const int rows = PQntuples(r.res);
  out.reserve(static_cast<size_t>(rows));
  auto num = [&r](int row, int col) {
    return std::strtoll(PQgetvalue(r.res, row, col), nullptr, 10);
  };
  for (int row = 0; row < rows; ++row) {
    HourlyRollup h;
    h.hour_start_ms = num(row, 0);
    if (absl::Status s = sql::ParseDimensions(PQgetvalue(r.res, row, 1), PQgetvalue(r.res, row, 2),
                                              PQgetvalue(r.res, row, 3), &h);
        !s.ok()) {
      return s;
    }
    h.model = PQgetvalue(r.res, row, 4);
    h.requests = num(row, 5);
    std::array<int64_t, sql::kMeasureCount> m{};
    for (size_t i = 0; i < m.size(); ++i) m[i] = num(row, 6 + static_cast<int>(i));
    sql::AddMeasures(m, &h);
    out.push_back(std::move(h));
  }
  std::sort(out.begin(), out.end(), RollupCellLess);
  return out;
}

absl::StatusOr<int64_t> PgEventStore::CountEvents() {
  if (absl::Status s = EnsureConnected(); !s.ok()) return s;
  Result r(PQexec(conn_, "SELECT COUNT(*) FROM cost_events"));
  if (PQresultStatus(r.res) != PGRES_TUPLES_OK) return Error("count events");
  return std::strtoll(PQgetvalue(r.res, 0, 0), nullptr, 10);
}

namespace {

class PostgresSink final : public EventSink {
 public:
  PostgresSink(PostgresSinkOptions options, std::unique_ptr<PgEventStore> store)
      : options_(std::move(options)),
        clock_(options_.clock != nullptr ? options_.clock : &core::SystemClock()),
        store_(std::move(store)) {}

  absl::Status Write(const std::vector<CostEvent>& batch) override {
    const int64_t horizon =
        options_.retention_days > 0
            ? absl::ToUnixMillis(clock_->Now()) - options_.retention_days * kMillisPerDay
            : std::numeric_limits<int64_t>::min();
    absl::MutexLock lock(&mu_);
    return store_->WriteBatch(batch, horizon).status();
  }
  absl::StatusOr<std::vector<HourlyRollup>> Rollups(int64_t from_ms, int64_t to_ms) override {
    absl::MutexLock lock(&mu_);
    return store_->Rollups(from_ms, to_ms);
  }
  absl::StatusOr<int64_t> CountEvents() override {
    absl::MutexLock lock(&mu_);
    return store_->CountEvents();
  }

 private:
  const PostgresSinkOptions options_;
  const core::Clock* const clock_;
  absl::Mutex mu_;
  std::unique_ptr<PgEventStore> store_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<EventSink>> NewPostgresSink(const PostgresSinkOptions& options) {
  auto store = PgEventStore::Connect(options.conninfo, options.statement_timeout_ms);
  if (!store.ok()) return store.status();
  return std::make_unique<PostgresSink>(options, *std::move(store));
}

}  // namespace mangaassist::telemetry
