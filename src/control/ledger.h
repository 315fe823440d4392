// The budget ledger (US-08): the authoritative record of settled LLM spend, one immutable row
// per request, idempotent by request_id (a retried write changes nothing), in SQLite (embedded)
// or PostgreSQL (distributed; replicas share it). Triggers refuse UPDATE and DELETE. The Redis
// counters are its read-through cache: a missing day is seeded from SumDay. Rows are written by
// a background writer in small batches so the request path never waits on a disk or a network;
// Close() drains it. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/money.h"

namespace mangaassist::control {

struct LedgerRow {
  std::string request_id;
  std::string day;       // the budget day (budget.time_zone), "2026-11-27"
  int64_t ts_ms = 0;
  std::string tenant;
  std::string key_name;  // the API key's name; "" for guests
  std::string model;     // "" when no model was called (a release)
  core::Money reserved;
  core::Money actual;
};

// A day's settled spend per scope.
struct DaySpend {
  core::Money deployment;
  std::map<std::string, core::Money> tenants;
  std::map<std::string, core::Money> keys;
  int64_t rows = 0;
};

class Ledger {
 public:
  virtual ~Ledger() = default;
  // Queues a row for the background writer (never blocks on I/O).
  virtual void Append(LedgerRow row) = 0;
  // Writes everything queued so far; returns the writer's last error, if any.
  virtual absl::Status Flush() = 0;
  virtual absl::StatusOr<DaySpend> SumDay(const std::string& day) = 0;
  virtual absl::StatusOr<std::vector<LedgerRow>> Rows(const std::string& day, int limit) = 0;
  virtual std::string_view backend() const = 0;
};

// SQLite at `path` (directories created).
absl::StatusOr<std::unique_ptr<Ledger>> OpenSqliteLedger(const std::string& path);
// PostgreSQL by libpq conninfo.
absl::StatusOr<std::unique_ptr<Ledger>> OpenPostgresLedger(const std::string& conninfo);
// In this process only, for replay (`ledger_sqlite_path: ":memory:"`) and tests: nothing durable.
// Keeps each day's sums and, for the two most recent days only, their request ids (a retried
// settle arrives within seconds) and last kMemoryLedgerRowsPerDay rows, so its memory grows by a
// few hundred bytes a day, never with the number of requests.
std::unique_ptr<Ledger> OpenMemoryLedger();
inline constexpr size_t kMemoryLedgerRowsPerDay = 1000;

}  // namespace mangaassist::control
