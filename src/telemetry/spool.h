// Spool: the durable local queue of US-07 telemetry between the request path and the shipper.
// Producers Append() records into an in-memory queue (a short mutex hand-off, no I/O, no
// allocation beyond the queue's growth); one writer thread batches them into append-only
// segment files (segment.h), fsyncs per policy and only then acknowledges them (durable_seq(),
// WaitDurable(), SpoolOptions::on_durable). Full segments are sealed into zstd files. One
// consumer (the shipper) reads acknowledged records with ReadFrom() and persists its position
// with Commit(); fully consumed sealed segments are deleted.
//
// Guarantees. An acknowledged record survives a crash (kill -9, power loss on a filesystem that
// honours fsync) and is returned by ReadFrom() once; a record that was only accepted (queued or
// written but not yet fsynced) may be lost by a crash but never comes back torn: recovery on
// Open() cuts the unsealed segment at the first torn or corrupt record. Delivery resumes right
// after the last committed cursor, so a consumer that ships then commits delivers at least once
// and, with a sink that is idempotent by the event's request_id (upsert / unique key), exactly
// once: a crash between "shipped" and "committed" replays the uncommitted tail.
//
// Backpressure. Usage is bytes on disk plus bytes queued. Sampled records are shed (counted in
// mangaassist_telemetry_dropped_total{class="sampled"}, Append still returns OK) once usage
// would pass quota_bytes * (100 - cost_reserve_percent) / 100, so the last part of the quota
// is kept for cost records. A cost record is never dropped silently: when it cannot be accepted (quota
// full, a disk error, a stopped spool) Append returns the error, counts
// mangaassist_telemetry_cost_events_refused_total and marks the spool degraded (the gauge
// mangaassist_telemetry_spool_degraded and degraded(), which /readyz reports) until a cost record
// is accepted again. A write or fsync error is sticky: Linux may drop unsynced pages after a
// failed fsync, so nothing is retried on that file; the spool stays degraded and refuses
// everything until it is reopened (recovery then keeps exactly the acknowledged prefix).
//
// Thread-safety: Append, WaitDurable, Flush, durable_seq, degraded, disk_bytes are safe from any
// thread. ReadFrom and Commit are for one consumer at a time (serialised internally). Open()
// starts the writer; Stop() (also run by the destructor) drains the queue, fsyncs and joins.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/metrics.h"

namespace mangaassist::telemetry {

enum class RecordClass {
  kCost,     // a settled request's cost event: never shed
  kSampled,  // sampled, non-cost events (debug traces, drift samples): shed first
};

enum class FsyncPolicy {
  kEveryBatch,  // fsync after every batch the writer takes from the queue (acks ~ one fsync away)
  kInterval,    // fsync at most every fsync_interval (or on Flush/Stop); acks wait for it
};

// A record whose bytes are produced on the spool's writer thread, which keeps encoding off the
// request path. EncodeTo runs once, on the writer thread; SizeHint stands in for the size in
// quota accounting until then.
class DeferredRecord {
 public:
  virtual ~DeferredRecord() = default;
  virtual size_t SizeHint() const = 0;
  virtual void EncodeTo(std::string* out) = 0;
};

struct SpoolOptions {
  std::string dir;                      // created if missing; one Spool per directory
  uint64_t segment_bytes = 8ull << 20;  // an active segment is sealed once it reaches this
  FsyncPolicy fsync_policy = FsyncPolicy::kEveryBatch;
  absl::Duration fsync_interval = absl::Milliseconds(100);  // kInterval, measured on `clock`
  uint64_t quota_bytes = 1ull << 30;   // disk (all segment files) + queued bytes
  int cost_reserve_percent = 10;  // share of the quota (0–100) only cost records may use
  int zstd_level = 3;
  // The writer waits up to this long after the first queued record for more (or until
  // kLingerRecords are queued) before writing, so a busy spool makes one write and, under
  // kEveryBatch, one fsync per few milliseconds instead of one per request. Zero: write at once.
  absl::Duration linger = absl::Milliseconds(5);
  const core::Clock* clock = nullptr;  // null: the system clock; must outlive the spool
  core::Registry* metrics = nullptr;   // null: a private registry; must outlive the spool
  // Called on the writer thread after each fsync with the highest acknowledged sequence
  // number, before WaitDurable waiters for it are released. Must be quick and must not call
  // WaitDurable/Flush/Stop (the writer would wait for itself).
  std::function<void(uint64_t durable_seq)> on_durable;
};

// A position in the spool: the record at byte `offset` of segment `segment`, whose sequence
// number is `seq`. The default cursor means "the oldest record still in the spool".
struct SpoolCursor {
  uint64_t segment = 0;
  uint64_t offset = 0;
  uint64_t seq = 0;
  friend bool operator==(const SpoolCursor&, const SpoolCursor&) = default;
};

struct SpoolRecord {
  uint64_t seq = 0;      // dense, increasing by one per accepted record, 1-based
  SpoolCursor position;  // where this record is
  SpoolCursor next;      // the cursor to commit once this record has been shipped
  std::string payload;
};

class Spool {
 public:
  // Recovers `options.dir` (removes temp files and the unsealed twins of sealed segments, seals
  // leftover unsealed segments but the last, cuts a torn tail of the last one, loads the
  // committed cursor, deletes consumed segments) and starts the writer thread.
  static absl::StatusOr<std::unique_ptr<Spool>> Open(SpoolOptions options);

  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;
  ~Spool();

  // Hands `record` to the writer. OK when queued (or, for kSampled, when shed for the quota);
  // ResourceExhausted when a cost record does not fit the quota; the sticky writer error after
  // a disk failure; FailedPrecondition after Stop(); InvalidArgument above kMaxRecordBytes.
  // `seq`, when given, receives the record's sequence number (0 when it was not queued).
  // Never blocks on I/O: this is the request path.
  absl::Status Append(std::string record, RecordClass cls, uint64_t* seq = nullptr);
  // The same for a record encoded later on the writer thread. Should its encoding exceed
  // kMaxRecordBytes, an empty record takes its sequence number (sequence numbers stay dense;
  // consumers see a record that does not decode) and the writer logs it.
  absl::Status Append(std::unique_ptr<DeferredRecord> record, RecordClass cls,
                      uint64_t* seq = nullptr);
  // Records the writer takes at once without lingering further.
  static constexpr size_t kLingerRecords = 256;

  // Blocks until record `seq` is durable: OK, the writer's error, FailedPrecondition when the
  // spool stopped without writing it, or DeadlineExceeded.
  absl::Status WaitDurable(uint64_t seq, absl::Duration timeout = absl::InfiniteDuration());
  // Makes every record accepted so far durable now (whatever the policy) and waits for it.
  absl::Status Flush(absl::Duration timeout = absl::InfiniteDuration());
  // The highest acknowledged (fsynced) sequence number; 0 when none.
  uint64_t durable_seq() const;

  // Up to `max` acknowledged records starting at `cursor`, in order. An empty result means the
  // consumer has caught up. A cursor into a deleted (consumed) segment restarts at the oldest
  // segment; DataLoss when a sealed segment no longer decodes; InvalidArgument for a cursor
  // past the end.
  absl::StatusOr<std::vector<SpoolRecord>> ReadFrom(const SpoolCursor& cursor, size_t max);
  // Durably records that everything before `cursor` was delivered (cursor file via temp +
  // fsync + rename) and deletes sealed segments that lie wholly before it.
  absl::Status Commit(const SpoolCursor& cursor);
  // The last committed cursor (loaded by Open); the place to resume reading after a restart.
  SpoolCursor committed() const;

  // True after a cost record was refused (until one is accepted again) or a disk error.
  bool degraded() const { return degraded_.load(std::memory_order_relaxed); }
  // Bytes of all segment files (active, unsealed and sealed).
  uint64_t disk_bytes() const;

  // Stops accepting records, writes and fsyncs everything queued, joins the writer.
  // Idempotent.
  void Stop();

 private:
  absl::Status LockDir();
  struct Metrics;
  struct Pending {
    std::string payload;
    std::unique_ptr<DeferredRecord> deferred;  // encoded into payload by the writer
    uint64_t seq;
    bool cost;
  };
  absl::Status Enqueue(std::string record, std::unique_ptr<DeferredRecord> deferred,
                       size_t size, RecordClass cls, uint64_t* seq);
  struct SegmentInfo {
    bool sealed = false;
    uint64_t raw_bytes = 0;   // logical length; for the active segment, its durable length
    uint64_t disk_bytes = 0;  // size of the file on disk
  };

  explicit Spool(SpoolOptions options);
  absl::Status Recover();
  void WriterLoop();
  // Writer-thread helpers.
  absl::Status WriteBatch(std::vector<Pending>& batch);
  absl::Status SyncAndAck();
  absl::Status RotateSegment(uint64_t first_seq);
  absl::Status CreateSegment(uint64_t index, uint64_t first_seq);
  void FailWriter(const absl::Status& status);
  // Removes from segments_ the sealed segments wholly before `cursor`, returning their paths.
  std::vector<std::string> TakeConsumedLocked(const SpoolCursor& cursor)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UnlinkAll(const std::vector<std::string>& paths);
  void RefuseCost();
  std::string PathOf(uint64_t index, bool sealed) const;
  // Consumer-side: the logical bytes of a sealed segment (cached).
  absl::StatusOr<const std::string*> SealedBytes(uint64_t index)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(read_mu_);

  const SpoolOptions options_;
  const core::Clock* const clock_;
  std::unique_ptr<core::Registry> own_registry_;  // when the caller gave none
  std::unique_ptr<Metrics> metrics_;
  std::atomic<bool> degraded_{false};

  mutable absl::Mutex mu_;
  std::vector<Pending> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t disk_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t durable_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t flush_target_ ABSL_GUARDED_BY(mu_) = 0;  // Flush(): sync through this seq now
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool writer_done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status writer_error_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, SegmentInfo> segments_ ABSL_GUARDED_BY(mu_);
  SpoolCursor committed_ ABSL_GUARDED_BY(mu_);

  // Owned by the writer thread (and by Recover before it starts).
  int active_fd_ = -1;
  int lock_fd_ = -1;  // flock on dir/LOCK while open
  uint64_t active_index_ = 0;
  uint64_t active_written_ = 0;  // bytes written to the active segment (synced or not)
  uint64_t written_seq_ = 0;     // highest seq written to the file
  uint64_t synced_seq_ = 0;      // highest seq fsynced
  int64_t last_sync_ns_ = 0;

  // Consumer side.
  absl::Mutex read_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  uint64_t cached_index_ ABSL_GUARDED_BY(read_mu_) = 0;
  std::string cached_bytes_ ABSL_GUARDED_BY(read_mu_);

  absl::Mutex stop_mu_;
  std::thread writer_ ABSL_GUARDED_BY(stop_mu_);
};

}  // namespace mangaassist::telemetry
