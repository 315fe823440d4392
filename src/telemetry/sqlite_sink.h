// SQLite event sink (US-07, embedded mode): raw events and hourly rollups in one WAL-mode file
// (schema: sql/cost_schema.h). A batch is one transaction: retention delete, raw inserts
// (ON CONFLICT (request_id) DO NOTHING), and the rollup upsert of exactly the rows inserted.
// Thread-safe (one connection behind a mutex); other processes may read the file meanwhile.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/clock.h"
#include "telemetry/sink.h"

namespace mangaassist::telemetry {

struct SqliteSinkOptions {
  std::string path;                    // the database file; created with the schema if missing
  int64_t retention_days = 30;         // raw events kept this long (by ts); 0 keeps them forever
  const core::Clock* clock = nullptr;  // retention's "now"; nullptr: core::SystemClock()
  int busy_timeout_ms = 5000;          // wait for another writer of the same file
};

// FailedPrecondition / Internal when the file cannot be opened or the schema created.
absl::StatusOr<std::unique_ptr<EventSink>> NewSqliteSink(const SqliteSinkOptions& options);

}  // namespace mangaassist::telemetry
