#include "telemetry/recorder.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "spdlog/spdlog.h"
#include "telemetry/event_codec.h"

namespace mangaassist::telemetry {

absl::StatusOr<std::unique_ptr<Recorder>> Recorder::Start(RecorderOptions options) {
  if (options.writer == nullptr) return absl::InvalidArgumentError("recorder without a writer");
  std::unique_ptr<Recorder> r(new Recorder());
  core::Registry* metrics = options.metrics;
  if (metrics == nullptr) {
    r->own_metrics_ = std::make_unique<core::Registry>();
    metrics = r->own_metrics_.get();
  }
  if (options.spool.metrics == nullptr) options.spool.metrics = metrics;
  Recorder* self = r.get();
  // Wake the shipper early once a full batch is durable; smaller backlogs wait for its poll.
  const uint64_t full_batch = std::max<size_t>(options.ship_batch, 1);
  options.spool.on_durable = [self, full_batch](uint64_t durable) {
    if (durable + 1 < self->next_to_ship_.load(std::memory_order_relaxed) + full_batch) return;
    absl::MutexLock lock(&self->mu_);
    self->wake_ = true;
  };
  r->recorded_ = &metrics->GetCounter("mangaassist_telemetry_events_recorded_total",
                                      "Cost events accepted by the spool");
  r->shipped_total_ = &metrics->GetCounter("mangaassist_telemetry_events_shipped_total",
                                           "Cost events written to the sink");
  r->ship_errors_ = &metrics->GetCounter("mangaassist_telemetry_ship_errors_total",
                                         "Sink writes that failed (retried)");
  r->undecodable_ = &metrics->GetCounter(
      "mangaassist_telemetry_undecodable_total",
      "Spooled records that no longer decode (skipped, kept in the log)");
  absl::StatusOr<std::unique_ptr<Spool>> spool = Spool::Open(options.spool);
  if (!spool.ok()) return spool.status();
  r->spool_ = *std::move(spool);
  r->cursor_ = r->spool_->committed();
  r->next_to_ship_.store(r->cursor_.seq);
  r->options_ = std::move(options);
  r->shipper_ = std::thread([self] { self->ShipLoop(); });
  return r;
}

Recorder::~Recorder() { Stop(); }

namespace {

// A cost event the spool's writer thread encodes.
class CostEventRecord final : public DeferredRecord {
 public:
  explicit CostEventRecord(CostEvent event) : event_(std::move(event)) {}
  // Typical events encode to 0.6–1 KB; the quota needs only a fair estimate.
  size_t SizeHint() const override { return 1024; }
  void EncodeTo(std::string* out) override { *out = EncodeCostEventJson(event_); }

 private:
  CostEvent event_;
};

// A captured cost event the spool's writer thread completes, then encodes.
class CapturedCostEventRecord final : public DeferredRecord {
 public:
  CapturedCostEventRecord(CostEventCapture capture,
                          std::shared_ptr<const EventBuilderOptions> options)
      : capture_(std::move(capture)), options_(std::move(options)) {}
  size_t SizeHint() const override { return 1024; }
  void EncodeTo(std::string* out) override {
    *out = EncodeCostEventJson(CompleteCostEvent(std::move(capture_), *options_));
  }

 private:
  CostEventCapture capture_;
  std::shared_ptr<const EventBuilderOptions> options_;
};

}  // namespace

absl::Status Recorder::Record(CostEvent event) {
  std::string request_id = event.request_id;  // for the log line; the event moves on
  return Spooled(spool_->Append(std::make_unique<CostEventRecord>(std::move(event)),
                                RecordClass::kCost),
                 request_id);
}

absl::Status Recorder::Record(CostEventCapture capture,
                              std::shared_ptr<const EventBuilderOptions> options) {
  std::string request_id = capture.event.request_id;
  return Spooled(spool_->Append(std::make_unique<CapturedCostEventRecord>(std::move(capture),
                                                                          std::move(options)),
                                RecordClass::kCost),
                 request_id);
}

absl::Status Recorder::Spooled(absl::Status appended, const std::string& request_id) {
  if (!appended.ok()) {
    spdlog::error("[{}] cost event refused by the spool: {}", request_id, appended.ToString());
    return appended;
  }
  recorded_->Inc();
  return absl::OkStatus();
}

absl::StatusOr<size_t> Recorder::ShipOnce() {
  absl::StatusOr<std::vector<SpoolRecord>> records =
      spool_->ReadFrom(cursor_, options_.ship_batch);
  if (!records.ok()) return records.status();
  if (records->empty()) return 0;
  std::vector<EncodedEvent> batch;
  batch.reserve(records->size());
  for (SpoolRecord& rec : *records) {
    absl::StatusOr<CostEvent> event = DecodeCostEventJson(rec.payload);
    if (!event.ok()) {
      // Written by a newer or broken build: it stays in the segment files for inspection;
      // shipping it is impossible, blocking the rest forever would be worse.
      spdlog::error("telemetry: spooled record {} does not decode: {}", rec.seq,
                    event.status().ToString());
      undecodable_->Inc();
      continue;
    }
    batch.push_back({*std::move(event), std::move(rec.payload)});
  }
  if (!batch.empty()) {
    absl::Status written = options_.writer->WriteEncoded(batch);
    if (!written.ok()) return written;
  }
  absl::Status committed = spool_->Commit(records->back().next);
  if (!committed.ok()) return committed;
  cursor_ = records->back().next;
  next_to_ship_.store(cursor_.seq, std::memory_order_relaxed);
  shipped_total_->Inc(static_cast<int64_t>(batch.size()));
  shipped_.fetch_add(static_cast<int64_t>(batch.size()));
  return records->size();
}

void Recorder::ShipLoop() {
  for (;;) {
    absl::StatusOr<size_t> n = ShipOnce();
    if (!n.ok()) {
      ship_errors_->Inc();
      spdlog::warn("telemetry: shipping failed, will retry: {}", n.status().ToString());
    }
    if (n.ok() && *n > 0) continue;  // more may be waiting
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    auto woken = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return wake_ || stopping_; };
    mu_.AwaitWithTimeout(absl::Condition(&woken),
                         n.ok() ? options_.ship_interval : options_.retry_backoff);
    wake_ = false;
  }
}

absl::Status Recorder::Drain(absl::Duration timeout) {
  absl::Status flushed = spool_->Flush(timeout);
  if (!flushed.ok()) return flushed;
  const absl::Time deadline = absl::Now() + timeout;
  const uint64_t target = spool_->durable_seq();
  while (absl::Now() < deadline) {
    // A committed cursor names the next record to ship: past `target` means all shipped.
    if (target == 0 || spool_->committed().seq > target) return absl::OkStatus();
    {
      absl::MutexLock lock(&mu_);
      wake_ = true;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  return absl::DeadlineExceededError("telemetry: events not shipped within the timeout");
}

void Recorder::Stop() {
  if (!shipper_.joinable()) return;
  absl::Status drained = Drain(options_.stop_grace);
  if (!drained.ok()) {
    spdlog::warn("telemetry: stopping with unshipped events (kept in the spool): {}",
                 drained.ToString());
  }
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  shipper_.join();
  spool_->Stop();
}

}  // namespace mangaassist::telemetry
