// PgShipper (US-07, distributed mode): moves cost events from the Redis Stream written by
// RedisStreamSink into PostgreSQL, exactly once in effect. Each step reads a batch as a member of
// a consumer group (XREADGROUP; the group is created with MKSTREAM from id 0), writes it in one
// PostgreSQL transaction (PgEventStore: COPY + INSERT ... ON CONFLICT (request_id) DO NOTHING +
// rollup upsert of the rows inserted), COMMITs, and only then XACKs. A crash anywhere leaves the
// entries pending: a restarted shipper with the same consumer name first re-reads its pending
// entries (XREADGROUP ... 0), and the request_id key absorbs whatever had been committed.
// Entries that do not decode are copied to "<stream>:dead" and acknowledged.
// Not thread-safe, except Start()/Stop(), which run ShipOnce() on one background thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/clock.h"
#include "telemetry/pg_sink.h"
#include "telemetry/redis_stream_sink.h"

struct redisContext;

namespace mangaassist::telemetry {

struct PgShipperOptions {
  std::string redis_host = "127.0.0.1";
  int redis_port = 6379;
  std::string stream = kDefaultCostStream;
  std::string group = "pg-shipper";
  // Stable per replica (e.g. the host name): a restart must reuse it to find its pending entries.
  std::string consumer = "shipper-1";
  std::string pg_conninfo;
  int batch_size = 500;
  std::chrono::milliseconds block{1000};  // XREADGROUP BLOCK when idle
  std::chrono::milliseconds connect_timeout{500};
  int64_t retention_days = 0;  // as PostgresSinkOptions
  const core::Clock* clock = nullptr;
  int statement_timeout_ms = 30'000;
  // Test hooks (crash simulation): before_commit runs inside the transaction before COMMIT (an
  // error rolls back); before_ack runs after COMMIT, before XACK (an error skips the XACK).
  std::function<absl::Status()> before_commit;
  std::function<absl::Status()> before_ack;
};

class PgShipper {
 public:
  // Connects to PostgreSQL (creating the schema). Redis is connected on the first step.
  static absl::StatusOr<std::unique_ptr<PgShipper>> Create(PgShipperOptions options);
  PgShipper(const PgShipper&) = delete;
  PgShipper& operator=(const PgShipper&) = delete;
  ~PgShipper();  // Stop()s.

  // One step: pending entries first (until none are left), then new ones (blocking up to
  // `block`). Returns how many stream entries were acknowledged (0 when idle). On error nothing
  // is acknowledged and the next step starts again from the pending entries.
  absl::StatusOr<int64_t> ShipOnce();

  // Runs ShipOnce() in a loop on a background thread (backing off on errors) until Stop(), which
  // finishes the current step.
  void Start();
  void Stop();

  int64_t shipped() const { return shipped_.load(); }    // entries acknowledged
  int64_t inserted() const { return inserted_.load(); }  // rows new to PostgreSQL
  int64_t dead() const { return dead_.load(); }          // undecodable entries set aside

 private:
  PgShipper(PgShipperOptions options, std::unique_ptr<PgEventStore> store);
  absl::Status ConnectRedis();
  absl::Status RedisFailed(const std::string& what);
  void DropRedis();

  const PgShipperOptions options_;
  const core::Clock* const clock_;
  std::unique_ptr<PgEventStore> store_;
  redisContext* redis_ = nullptr;
  // Holds the replies of redis_ (see pg_shipper.cc); emptied at the start of each step.
  std::unique_ptr<class ReplyArena> replies_;
  bool reading_pending_ = true;
  std::atomic<int64_t> shipped_{0}, inserted_{0}, dead_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace mangaassist::telemetry
