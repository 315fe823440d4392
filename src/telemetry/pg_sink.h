// PostgreSQL event sink (US-07, distributed mode; schema: sql/cost_schema.h, the same tables the
// SQLite sink uses). A batch is one transaction. Normally it is a binary COPY straight into
// cost_events plus one upsert of the batch's rollup cells (summed client-side). When the batch
// holds a request_id already stored (a redelivery), that COPY fails on the primary key and the
// batch goes, under a savepoint, through a per-connection staging table instead:
//   INSERT INTO cost_events SELECT ... FROM staging ON CONFLICT (request_id) DO NOTHING RETURNING
// feeding the hourly rollup upsert, so only the rows actually inserted are counted.
// PgEventStore is that logic on one connection (not thread-safe; PgShipper owns one);
// NewPostgresSink wraps one behind a mutex as an EventSink (thread-safe).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/clock.h"
#include "telemetry/sink.h"

struct pg_conn;

namespace mangaassist::telemetry {

struct PostgresSinkOptions {
  // libpq connection string; put connect_timeout=N in it (the default waits for the OS).
  std::string conninfo;
  int64_t retention_days = 0;          // raw events kept this long; 0 keeps them forever
  const core::Clock* clock = nullptr;  // retention's "now"; nullptr: core::SystemClock()
  int statement_timeout_ms = 30'000;
};

class PgEventStore {
 public:
  // Connects, creates the schema if missing and the session's staging table. Unavailable when
  // the server cannot be reached.
  static absl::StatusOr<std::unique_ptr<PgEventStore>> Connect(const std::string& conninfo,
                                                               int statement_timeout_ms);
  PgEventStore(const PgEventStore&) = delete;
  PgEventStore& operator=(const PgEventStore&) = delete;
  ~PgEventStore();

  // Writes `batch` in one transaction (see the file comment), first deleting raw rows with
  // ts_ms < `horizon_ms` and skipping incoming events older than it. `before_commit`, if set,
  // runs inside the transaction just before COMMIT; a non-OK status rolls back (a test hook for
  // a crash before commit). Returns the number of events actually inserted. Unavailable when the
  // connection is lost (it is re-established on the next call).
  absl::StatusOr<int64_t> WriteBatch(const std::vector<const CostEvent*>& batch,
                                     int64_t horizon_ms,
                                     const std::function<absl::Status()>& before_commit = {});
  absl::StatusOr<std::vector<HourlyRollup>> Rollups(int64_t from_ms, int64_t to_ms);
  absl::StatusOr<int64_t> CountEvents();
  // The event with this request_id from the view cost_events_json; nullopt when none.
  absl::StatusOr<std::optional<CostEvent>> GetEvent(std::string_view request_id);

 private:
  PgEventStore(std::string conninfo, int statement_timeout_ms)
      : conninfo_(std::move(conninfo)), statement_timeout_ms_(statement_timeout_ms) {}
  absl::Status EnsureConnected();
  absl::Status Exec(const std::string& sql);
  absl::Status WriteInTransaction(const std::vector<const CostEvent*>& batch, int64_t horizon_ms,
                                  const std::function<absl::Status()>& before_commit,
                                  int64_t* inserted);
  // COPY (FORMAT binary) of `rows` into `table`; on a server error `sqlstate` gets its code.
  absl::Status CopyRows(const char* table, const std::vector<const CostEvent*>& rows,
                        std::string* sqlstate);
  // Adds `rows` (all inserted) to cost_rollup_hourly.
  absl::Status UpsertRollups(const std::vector<const CostEvent*>& rows);
  absl::Status Error(const std::string& what);

  const std::string conninfo_;
  const int statement_timeout_ms_;
  pg_conn* conn_ = nullptr;
};

absl::StatusOr<std::unique_ptr<EventSink>> NewPostgresSink(const PostgresSinkOptions& options);

}  // namespace mangaassist::telemetry
