// Recorder: the request path's end of the US-07 pipeline. Record() encodes a request's cost
// event and appends it to the durable spool (no I/O on the caller's thread); a shipper thread
// reads acknowledged records, writes them in batches to the configured EventWriter (SQLite
// embedded, or the Redis Stream that PgShipper drains into PostgreSQL) and commits its spool
// cursor only after the writer accepted the batch — so every acknowledged event reaches the
// sink at least once, and exactly once since writers are idempotent by request_id.
// Start()/Stop(): Stop() drains the spool into the writer (within a grace period) before it
// returns. Record() and degraded() are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/metrics.h"
#include "telemetry/event.h"
#include "telemetry/event_builder.h"
#include "telemetry/sink.h"
#include "telemetry/spool.h"

namespace mangaassist::telemetry {

struct RecorderOptions {
  SpoolOptions spool;
  std::unique_ptr<EventWriter> writer;           // where shipped events go (required)
  // Records per writer batch. The shipper ships when a full batch is durable, or every
  // ship_interval otherwise: a steady trickle never costs one sink transaction per request.
  size_t ship_batch = 512;
  absl::Duration ship_interval = absl::Milliseconds(200);
  absl::Duration retry_backoff = absl::Seconds(1);         // after a writer error
  absl::Duration stop_grace = absl::Seconds(10);           // Stop(): time to drain
  core::Registry* metrics = nullptr;             // null: a private registry
};

class Recorder {
 public:
  static absl::StatusOr<std::unique_ptr<Recorder>> Start(RecorderOptions options);
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // Spools `event` as a cost record; it is encoded later, on the spool's writer thread. An
  // error means the event could not be accepted (quota, disk): it is counted and the recorder
  // reports degraded().
  absl::Status Record(CostEvent event);
  // The same for a request whose event is only captured: the spool's writer thread completes it
  // (CompleteCostEvent: id hashes, token count, baseline, savings) before encoding, so the
  // request thread pays for the copies only. `options` (and what it points to) must outlive
  // this recorder's Stop(); the record holds a reference to it.
  absl::Status Record(CostEventCapture capture, std::shared_ptr<const EventBuilderOptions> options);
  // The spool refused a cost event or the disk failed; /readyz reports it.
  bool degraded() const { return spool_->degraded(); }
  // Events the shipper handed to the writer so far (for tests and metrics).
  int64_t shipped() const { return shipped_.load(); }
  // Makes everything recorded so far durable and shipped (tests; Stop() does it too).
  absl::Status Drain(absl::Duration timeout);
  void Stop();

 private:
  Recorder() = default;
  // Counts an accepted record, or logs the spool's refusal.
  absl::Status Spooled(absl::Status appended, const std::string& request_id);
  void ShipLoop();
  // Ships one batch; returns the number of records shipped (0: caught up), or an error.
  absl::StatusOr<size_t> ShipOnce();

  RecorderOptions options_;
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<core::Registry> own_metrics_;
  core::Counter* recorded_ = nullptr;
  core::Counter* shipped_total_ = nullptr;
  core::Counter* ship_errors_ = nullptr;
  core::Counter* undecodable_ = nullptr;
  std::atomic<int64_t> shipped_{0};
  std::atomic<uint64_t> next_to_ship_{0};  // the committed cursor's seq (shipper-thread writes)

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  SpoolCursor cursor_;  // shipper thread only
  std::thread shipper_;
};

}  // namespace mangaassist::telemetry
