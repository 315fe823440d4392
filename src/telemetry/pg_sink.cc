#include "telemetry/pg_sink.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
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

// COPY ... (FORMAT binary): a fixed header, then per row a 16-bit field count and each field
// as a 32-bit length plus its bytes (network byte order), then a -1 trailer. PostgreSQL skips
// parsing text entirely, which matters: CSV scanning of the raw JSON column was the hottest
// code of the whole shipper path.
constexpr std::string_view kCopyBinaryHeader{"PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0", 19};

void PutBigEndian(std::string* out, uint64_t v, int bytes) {
  char buf[8];
  for (int i = 0; i < bytes; ++i) buf[i] = static_cast<char>((v >> ((bytes - 1 - i) * 8)) & 0xff);
  out->append(buf, static_cast<size_t>(bytes));
}

void PutText(std::string* out, std::string_view v) {
  if (v.find('\0') == std::string_view::npos) {
    PutBigEndian(out, v.size(), 4);
    out->append(v);
    return;
  }
  std::string clean;  // PostgreSQL text cannot hold NUL
  for (char c : v) {
    if (c != '\0') clean.push_back(c);
  }
  PutBigEndian(out, clean.size(), 4);
  out->append(clean);
}

void PutInt8(std::string* out, int64_t v) {
  PutBigEndian(out, 8, 4);
  PutBigEndian(out, static_cast<uint64_t>(v), 8);
}

void PutInt4(std::string* out, int32_t v) {
  PutBigEndian(out, 4, 4);
  PutBigEndian(out, static_cast<uint32_t>(v), 4);
}

// One row in sql::EventColumns() order, typed as CreateSchemaSql declares them.
void AppendCopyRow(std::string* out, const CostEvent& e) {
  PutBigEndian(out, sql::EventColumns().size(), 2);
  PutText(out, e.request_id);
  PutInt8(out, e.ts_unix_ms);
  PutInt8(out, HourStartMs(e.ts_unix_ms));
  PutText(out, e.tenant);
  PutText(out, e.intent);
  PutInt4(out, e.http_status);
  PutInt4(out, e.degraded_level);
  PutText(out, core::TierName(e.tier));
  PutText(out, core::LangName(e.lang));
  PutText(out, core::RouteName(e.route));
  PutText(out, e.model);
  for (int64_t v : sql::MeasuresOf(e)) PutInt8(out, v);
  PutText(out, EncodeCostEventExtraJson(e));
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
    const std::vector<const CostEvent*>& batch, int64_t horizon_ms,
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

absl::Status PgEventStore::CopyRows(const char* table,
                                    const std::vector<const CostEvent*>& rows,
                                    std::string* sqlstate) {
  {
    std::string copy = absl::StrCat("COPY ", table, " (", absl::StrJoin(sql::EventColumns(), ", "),
                                    ") FROM STDIN WITH (FORMAT binary)");
    Result r(PQexec(conn_, copy.c_str()));
    if (PQresultStatus(r.res) != PGRES_COPY_IN) return Error("COPY");
  }
  // Streamed in pieces: one batch-sized buffer would make libpq grow (and copy) its own.
  constexpr size_t kChunk = 256 << 10;
  std::string data(kCopyBinaryHeader);
  data.reserve(kChunk + (64 << 10));
  bool sent = true;
  for (const CostEvent* e : rows) {
    AppendCopyRow(&data, *e);
    if (data.size() >= kChunk) {
      sent = PQputCopyData(conn_, data.data(), static_cast<int>(data.size())) == 1;
      data.clear();
      if (!sent) break;
    }
  }
  PutBigEndian(&data, 0xffff, 2);  // trailer: field count -1
  if (!sent || PQputCopyData(conn_, data.data(), static_cast<int>(data.size())) != 1 ||
      PQputCopyEnd(conn_, nullptr) != 1) {
    return Error("COPY data");
  }
  absl::Status status;
  while (PGresult* res = PQgetResult(conn_)) {
    Result r(res);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && status.ok()) {
      const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
      if (sqlstate != nullptr && state != nullptr) *sqlstate = state;
      status = Error(absl::StrCat("COPY into ", table));
    }
  }
  return status;
}

absl::Status PgEventStore::UpsertRollups(const std::vector<const CostEvent*>& rows) {
  // Sums per cell here, one upsert row per cell, cells in RollupCellLess order: concurrent
  // shippers then lock rollup rows in the same order and cannot deadlock.
  std::map<HourlyRollup, HourlyRollup, bool (*)(const HourlyRollup&, const HourlyRollup&)> cells(
      RollupCellLess);
  for (const CostEvent* e : rows) {
    HourlyRollup cell = RollupCellOf(*e);
    cells.try_emplace(cell, cell).first->second.Add(*e);
  }
  // A statement takes at most 65,535 parameters: 1,000 cells (39,000) per statement.
  constexpr size_t kCols = 6 + sql::kMeasureCount;
  constexpr size_t kCellsPerStatement = 1'000;
  std::vector<std::string> values;
  std::string tuples;
  int n = 0;
  auto flush = [&]() -> absl::Status {
    if (n == 0) return absl::OkStatus();
    std::vector<const char*> params;
    params.reserve(values.size());
    for (const std::string& v : values) params.push_back(v.c_str());
    const std::string upsert = sql::RollupUpsertSql(absl::StrCat("VALUES ", tuples));
    Result r(PQexecParams(conn_, upsert.c_str(), n, nullptr, params.data(), nullptr, nullptr, 0));
    if (PQresultStatus(r.res) != PGRES_COMMAND_OK) return Error("roll up");
    values.clear();
    tuples.clear();
    n = 0;
    return absl::OkStatus();
  };
  for (const auto& [key, r] : cells) {
    if (static_cast<size_t>(n) >= kCellsPerStatement * kCols) {
      if (absl::Status s = flush(); !s.ok()) return s;
    }
    absl::StrAppend(&tuples, tuples.empty() ? "" : ", ", "(");
    for (size_t i = 0; i < kCols; ++i) absl::StrAppend(&tuples, i ? ", $" : "$", ++n);
    tuples.push_back(')');
    values.push_back(absl::StrCat(r.hour_start_ms));
    values.emplace_back(core::TierName(r.tier));
    values.emplace_back(core::LangName(r.lang));
    values.emplace_back(core::RouteName(r.route));
    values.push_back(r.model);
    values.push_back(absl::StrCat(r.requests));
    for (int64_t v : sql::MeasuresOfRollup(r)) values.push_back(absl::StrCat(v));
  }
  return flush();
}

absl::Status PgEventStore::WriteInTransaction(const std::vector<const CostEvent*>& batch,
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
  // The first occurrence of each request_id inside the retention window.
  std::vector<const CostEvent*> rows;
  rows.reserve(batch.size());
  std::unordered_set<std::string_view> seen;
  for (const CostEvent* e : batch) {
    if (e->ts_unix_ms < horizon_ms) continue;  // see EventSink::WriteEncoded
    if (seen.insert(e->request_id).second) rows.push_back(e);
  }

  // Fast path, the normal case: no request_id of the batch is stored yet, so the rows go
  // straight into cost_events and the rollups are summed here. A redelivered batch (a crash
  // between COMMIT and XACK) fails on the primary key; it is rolled back to the savepoint and
  // takes the staging path, where ON CONFLICT keeps exactly the rows not stored yet.
  if (absl::Status s = Exec("SAVEPOINT direct_copy"); !s.ok()) return s;
  std::string sqlstate;
  absl::Status direct = CopyRows("cost_events", rows, &sqlstate);
  if (direct.ok()) {
    if (absl::Status s = UpsertRollups(rows); !s.ok()) return s;
    *inserted = static_cast<int64_t>(rows.size());
  } else if (sqlstate == "23505") {  // unique_violation
    if (absl::Status s = Exec("ROLLBACK TO SAVEPOINT direct_copy"); !s.ok()) return s;
    if (absl::Status s = CopyRows("cost_events_stage", rows, nullptr); !s.ok()) return s;
    static const std::string* const kInsert = new std::string(InsertAndRollupSql());
    Result r(PQexecParams(conn_, kInsert->c_str(), 1, nullptr, params, nullptr, nullptr, 0));
    if (PQresultStatus(r.res) != PGRES_TUPLES_OK || PQntuples(r.res) != 1) {
      return Error("insert and roll up");
    }
    *inserted = std::strtoll(PQgetvalue(r.res, 0, 0), nullptr, 10);
  } else {
    return direct;
  }
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

absl::StatusOr<std::optional<CostEvent>> PgEventStore::GetEvent(std::string_view request_id) {
  if (absl::Status s = EnsureConnected(); !s.ok()) return s;
  static const std::string* const kQuery =
      new std::string(sql::EventJsonQuerySql(sql::Dialect::kPostgres));
  const std::string id(request_id);
  const char* params[] = {id.c_str()};
  Result r(PQexecParams(conn_, kQuery->c_str(), 1, nullptr, params, nullptr, nullptr, 0));
  if (PQresultStatus(r.res) != PGRES_TUPLES_OK) return Error("get event");
  if (PQntuples(r.res) == 0) return std::nullopt;
  absl::StatusOr<CostEvent> event = DecodeCostEventJson(
      std::string_view(PQgetvalue(r.res, 0, 0), static_cast<size_t>(PQgetlength(r.res, 0, 0))));
  if (!event.ok()) return event.status();
  return std::optional<CostEvent>(*std::move(event));
}

namespace {

class PostgresSink final : public EventSink {
 public:
  PostgresSink(PostgresSinkOptions options, std::unique_ptr<PgEventStore> store)
      : options_(std::move(options)),
        clock_(options_.clock != nullptr ? options_.clock : &core::SystemClock()),
        store_(std::move(store)) {}

  absl::Status WriteEncoded(const std::vector<EncodedEvent>& batch) override {
    const int64_t horizon =
        options_.retention_days > 0
            ? absl::ToUnixMillis(clock_->Now()) - options_.retention_days * kMillisPerDay
            : std::numeric_limits<int64_t>::min();
    absl::MutexLock lock(&mu_);
    std::vector<const CostEvent*> events;
    events.reserve(batch.size());
    for (const EncodedEvent& e : batch) events.push_back(&e.event);
    return store_->WriteBatch(events, horizon).status();
  }
  absl::StatusOr<std::vector<HourlyRollup>> Rollups(int64_t from_ms, int64_t to_ms) override {
    absl::MutexLock lock(&mu_);
    return store_->Rollups(from_ms, to_ms);
  }
  absl::StatusOr<int64_t> CountEvents() override {
    absl::MutexLock lock(&mu_);
    return store_->CountEvents();
  }
  absl::StatusOr<std::optional<CostEvent>> GetEvent(std::string_view request_id) override {
    absl::MutexLock lock(&mu_);
    return store_->GetEvent(request_id);
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
