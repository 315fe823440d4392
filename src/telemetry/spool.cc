#include "telemetry/spool.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "telemetry/segment.h"
#include "xxhash.h"

namespace mangaassist::telemetry {
namespace {

constexpr char kCursorFile[] = "cursor";
constexpr char kCursorMagic[4] = {'M', 'A', 'S', 'C'};
constexpr size_t kCursorBytes = 4 + 3 * 8 + 8;  // magic, segment, offset, seq, checksum
// The writer re-checks an interval deadline at least this often: the clock may be a manual one
// that no condition variable can watch.
constexpr absl::Duration kMaxIntervalPoll = absl::Milliseconds(20);
// Bytes the consumer reads from the active segment per pass.
constexpr uint64_t kReadChunkBytes = 1ull << 20;

void PutU64(uint64_t v, char* p) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string EncodeCursor(const SpoolCursor& c) {
  std::string out(kCursorBytes, '\0');
  std::memcpy(out.data(), kCursorMagic, 4);
  PutU64(c.segment, out.data() + 4);
  PutU64(c.offset, out.data() + 12);
  PutU64(c.seq, out.data() + 20);
  PutU64(XXH3_64bits(out.data(), 28), out.data() + 28);
  return out;
}

absl::StatusOr<SpoolCursor> DecodeCursor(std::string_view data) {
  if (data.size() != kCursorBytes || std::memcmp(data.data(), kCursorMagic, 4) != 0 ||
      GetU64(data.data() + 28) != XXH3_64bits(data.data(), 28)) {
    return absl::DataLossError("spool cursor file is corrupt");
  }
  return SpoolCursor{.segment = GetU64(data.data() + 4),
                     .offset = GetU64(data.data() + 12),
                     .seq = GetU64(data.data() + 20)};
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

}  // namespace

// The spool's metrics, declared together.
struct Spool::Metrics {
  explicit Metrics(core::Registry* r)
      : appended_cost(r->GetCounter("mangaassist_telemetry_appended_total",
                                    "Telemetry records accepted into the spool, by class.",
                                    {{"class", "cost"}})),
        appended_sampled(r->GetCounter("mangaassist_telemetry_appended_total",
                                       "Telemetry records accepted into the spool, by class.",
                                       {{"class", "sampled"}})),
        dropped_sampled(r->GetCounter("mangaassist_telemetry_dropped_total",
                                      "Telemetry records shed by the spool, by class.",
                                      {{"class", "sampled"}})),
        cost_refused(r->GetCounter(
            "mangaassist_telemetry_cost_events_refused_total",
            "Cost events the spool could not accept (quota full, disk error, stopped).")),
        degraded(r->GetGauge("mangaassist_telemetry_spool_degraded",
                             "1 while the spool refuses cost events or has a disk error.")),
        bytes_written(r->GetCounter("mangaassist_telemetry_spool_bytes_written_total",
                                    "Bytes written to spool segments (framing included).")),
        records_written(r->GetCounter("mangaassist_telemetry_spool_records_written_total",
                                      "Records written to spool segments.")),
        fsyncs(r->GetCounter("mangaassist_telemetry_spool_fsyncs_total",
                             "fsync calls on spool segments.")),
        sealed(r->GetCounter("mangaassist_telemetry_spool_segments_sealed_total",
                             "Spool segments sealed (zstd-compressed).")),
        sealed_raw_bytes(r->GetCounter("mangaassist_telemetry_spool_sealed_raw_bytes_total",
                                       "Uncompressed bytes of sealed spool segments.")),
        sealed_compressed_bytes(
            r->GetCounter("mangaassist_telemetry_spool_sealed_compressed_bytes_total",
                          "Compressed bytes of sealed spool segments.")),
        compression_ratio(r->GetGauge(
            "mangaassist_telemetry_spool_compression_ratio_permille",
            "Raw / compressed bytes of all segments sealed by this process, times 1000.")),
        queue_depth(r->GetGauge("mangaassist_telemetry_spool_queue_depth",
                                "Records accepted but not yet written by the spool writer.")),
        disk_bytes(r->GetGauge("mangaassist_telemetry_spool_disk_bytes",
                               "Bytes of all spool segment files.")),
        durable_seq(r->GetGauge("mangaassist_telemetry_spool_durable_seq",
                                "Highest acknowledged (fsynced) spool sequence number.")),
        torn_bytes(r->GetCounter("mangaassist_telemetry_spool_recovered_torn_bytes_total",
                                 "Bytes cut from torn or corrupt segment tails at recovery.")),
        write_errors(r->GetCounter("mangaassist_telemetry_spool_write_errors_total",
                                   "Spool write/fsync/seal failures (each one is sticky).")),
        segments_deleted(r->GetCounter("mangaassist_telemetry_spool_segments_deleted_total",
                                       "Sealed spool segments deleted after full consumption.")) {}

  core::Counter& appended_cost;
  core::Counter& appended_sampled;
  core::Counter& dropped_sampled;
  core::Counter& cost_refused;
  core::Gauge& degraded;
  core::Counter& bytes_written;
  core::Counter& records_written;
  core::Counter& fsyncs;
  core::Counter& sealed;
  core::Counter& sealed_raw_bytes;
  core::Counter& sealed_compressed_bytes;
  core::Gauge& compression_ratio;
  core::Gauge& queue_depth;
  core::Gauge& disk_bytes;
  core::Gauge& durable_seq;
  core::Counter& torn_bytes;
  core::Counter& write_errors;
  core::Counter& segments_deleted;
};

Spool::Spool(SpoolOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : &core::SystemClock()) {
  core::Registry* registry = options_.metrics;
  if (registry == nullptr) {
    own_registry_ = std::make_unique<core::Registry>();
    registry = own_registry_.get();
  }
  metrics_ = std::make_unique<Metrics>(registry);
  metrics_->degraded.Set(0);
}

Spool::~Spool() {
  Stop();
  if (active_fd_ >= 0) ::close(active_fd_);
}

absl::StatusOr<std::unique_ptr<Spool>> Spool::Open(SpoolOptions options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("spool: dir is empty");
  if (options.segment_bytes < kSegmentHeaderBytes + kRecordHeaderBytes) {
    return absl::InvalidArgumentError("spool: segment_bytes too small");
  }
  if (options.cost_reserve_percent < 0 || options.cost_reserve_percent > 100) {
    return absl::InvalidArgumentError("spool: cost_reserve_percent must be in [0, 100]");
  }
  if (options.fsync_policy == FsyncPolicy::kInterval &&
      options.fsync_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("spool: fsync_interval must be positive");
  }
  std::unique_ptr<Spool> spool(new Spool(std::move(options)));
  if (absl::Status s = spool->LockDir(); !s.ok()) return s;
  if (absl::Status s = spool->Recover(); !s.ok()) return s;
  absl::MutexLock lock(&spool->stop_mu_);
  spool->writer_ = std::thread([raw = spool.get()] { raw->WriterLoop(); });
  return spool;
}

std::string Spool::PathOf(uint64_t index, bool sealed) const {
  return options_.dir + "/" + SegmentFileName(index, sealed);
}

// One spool per directory: two writers would interleave segments and both recover "torn"
// tails. An flock on dir/LOCK (released by the kernel if the process dies) refuses the second.
absl::Status Spool::LockDir() {
  std::error_code ec;
  std::filesystem::create_directories(options_.dir, ec);
  if (ec)
    return absl::InternalError(absl::StrCat("spool: create ", options_.dir, ": ", ec.message()));
  const std::string path = options_.dir + "/LOCK";
  lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) {
    return absl::InternalError(absl::StrCat("spool: open ", path, ": ", std::strerror(errno)));
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(lock_fd_);
    lock_fd_ = -1;
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("spool: directory ", options_.dir,
                       " is in use by another process (one spool per "
                       "directory; give each replica its own telemetry.spool_dir)"));
    }
    return absl::InternalError(absl::StrCat("spool: lock ", path, ": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

absl::Status Spool::Recover() {
  const std::string& dir = options_.dir;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("spool: create ", dir, ": ", ec.message()));

  // Inventory: drop temp files; a sealed file makes its unsealed twin redundant.
  std::map<uint64_t, bool> found;  // index → sealed
  std::vector<std::string> redundant;
  // The error_code forms throughout: no exception escapes Open().
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) {
      redundant.push_back(it->path().string());
      continue;
    }
    uint64_t index = 0;
    bool sealed = false;
    if (!ParseSegmentFileName(name, &index, &sealed)) continue;
    auto [slot, inserted] = found.emplace(index, sealed);
    if (!inserted) {
      redundant.push_back(PathOf(index, false));
      slot->second = true;
    }
  }
  if (ec) return absl::InternalError(absl::StrCat("spool: list ", dir, ": ", ec.message()));
  for (const std::string& path : redundant) ::unlink(path.c_str());

  // The committed cursor. A corrupt cursor file cannot come from our atomic rename; if the disk
  // produced one anyway, replaying from the start duplicates (absorbed by the idempotent sink)
  // where trusting it could lose.
  SpoolCursor committed;
  if (absl::StatusOr<std::string> bytes = ReadFileRange(dir + "/" + kCursorFile, 0, 1024);
      bytes.ok()) {
    absl::StatusOr<SpoolCursor> cursor = DecodeCursor(*bytes);
    if (cursor.ok()) {
      committed = *cursor;
    } else {
      spdlog::error("spool {}: {}; replaying from the oldest segment", dir,
                    cursor.status().ToString());
    }
  } else if (!absl::IsNotFound(bytes.status())) {
    return bytes.status();
  }

  uint64_t next_seq = std::max<uint64_t>(1, committed.seq);
  uint64_t next_index = committed.segment + 1;
  std::map<uint64_t, SegmentInfo> segments;
  uint64_t active_index = 0;
  uint64_t active_written = 0;
  uint64_t torn = 0;
  for (auto it = found.begin(); it != found.end(); ++it) {
    const uint64_t index = it->first;
    bool sealed = it->second;
    const bool last = std::next(it) == found.end();
    next_index = std::max(next_index, index + 1);
    const std::string path = PathOf(index, sealed);
    if (sealed && !last) {
      // Only the last segment's contents matter here (the next sequence number); older sealed
      // ones are checked when they are read.
      absl::StatusOr<uint64_t> raw = SealedSegmentRawBytes(path);
      if (!raw.ok()) return raw.status();
      segments.emplace(
          index, SegmentInfo{.sealed = true, .raw_bytes = *raw, .disk_bytes = FileSize(path)});
      continue;
    }
    absl::StatusOr<std::string> bytes = ReadSegmentBytes(path, sealed);
    if (!bytes.ok()) return bytes.status();
    absl::StatusOr<SegmentHeader> header = DecodeSegmentHeader(*bytes);
    if (!header.ok()) {
      if (sealed || !last || bytes->size() >= kSegmentHeaderBytes) {
        return absl::DataLossError(absl::StrCat("spool: ", path, ": ", header.status().message()));
      }
      // A segment whose creation was interrupted: its header was never fsynced, so nothing in
      // it was acknowledged.
      spdlog::warn("spool {}: removing {} with a torn header", dir, path);
      ::unlink(path.c_str());
      torn += bytes->size();
      continue;
    }
    ParseResult parsed =
        ParseRecords(std::string_view(*bytes).substr(kSegmentHeaderBytes), kSegmentHeaderBytes);
    if (parsed.stop != ParseResult::Stop::kEnd) {
      if (sealed) {
        return absl::DataLossError(absl::StrCat("spool: sealed segment ", path, " is corrupt"));
      }
      // The unsealed tail after the first bad record was never acknowledged (acks follow
      // fsync, and fsync follows every earlier record): cut it.
      const uint64_t cut = bytes->size() - parsed.valid_end;
      spdlog::warn("spool {}: cutting {} bytes of {} tail of {}", dir, cut,
                   parsed.stop == ParseResult::Stop::kTorn ? "torn" : "corrupt", path);
      int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) return ErrnoStatus(errno, "open " + path);
      const bool ok =
          ::ftruncate(fd, static_cast<off_t>(parsed.valid_end)) == 0 && ::fsync(fd) == 0;
      const int err = errno;
      ::close(fd);
      if (!ok) return ErrnoStatus(err, "truncate " + path);
      torn += cut;
    }
    next_seq = header->first_seq + parsed.records.size();
    if (!sealed && !last) {
      // An older unsealed segment: a seal interrupted by a crash. Finish it.
      absl::StatusOr<SealResult> seal =
          SealSegment(dir, index, parsed.valid_end, options_.zstd_level);
      if (!seal.ok()) return seal.status();
      sealed = true;
    }
    SegmentInfo info{.sealed = sealed,
                     .raw_bytes = parsed.valid_end,
                     .disk_bytes = FileSize(PathOf(index, sealed))};
    segments.emplace(index, info);
    if (!sealed) {
      active_index = index;
      active_written = parsed.valid_end;
    }
  }
  metrics_->torn_bytes.Inc(static_cast<int64_t>(torn));

  // Continue the last unsealed segment, or start a fresh one.
  if (active_index != 0) {
    const std::string path = PathOf(active_index, false);
    active_fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (active_fd_ < 0) return ErrnoStatus(errno, "open " + path);
    active_index_ = active_index;
    active_written_ = active_written;
  }
  {
    absl::MutexLock lock(&mu_);
    segments_ = std::move(segments);
    committed_ = committed;
    next_seq_ = next_seq;
    durable_seq_ = next_seq - 1;
    disk_bytes_ = 0;
    for (const auto& [index, info] : segments_) disk_bytes_ += info.disk_bytes;
  }
  written_seq_ = synced_seq_ = next_seq - 1;
  if (active_index == 0) {
    if (absl::Status s = CreateSegment(next_index, next_seq); !s.ok()) return s;
  }
  last_sync_ns_ = clock_->MonotonicNanos();

  std::vector<std::string> consumed;
  {
    absl::MutexLock lock(&mu_);
    consumed = TakeConsumedLocked(committed_);
    metrics_->disk_bytes.Set(static_cast<int64_t>(disk_bytes_));
    metrics_->durable_seq.Set(static_cast<int64_t>(durable_seq_));
  }
  UnlinkAll(consumed);
  return absl::OkStatus();
}

absl::Status Spool::CreateSegment(uint64_t index, uint64_t first_seq) {
  const std::string path = PathOf(index, false);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, "create " + path);
  const std::string header = EncodeSegmentHeader({.first_seq = first_seq});
  absl::Status s = WriteAll(fd, header, path);
  if (s.ok() && ::fsync(fd) != 0) s = ErrnoStatus(errno, "fsync " + path);
  if (s.ok()) s = FsyncDir(options_.dir);
  if (!s.ok()) {
    ::close(fd);
    return s;
  }
  metrics_->fsyncs.Inc();
  active_fd_ = fd;
  active_index_ = index;
  active_written_ = header.size();
  absl::MutexLock lock(&mu_);
  segments_[index] =
      SegmentInfo{.sealed = false, .raw_bytes = header.size(), .disk_bytes = header.size()};
  disk_bytes_ += header.size();
  metrics_->disk_bytes.Set(static_cast<int64_t>(disk_bytes_));
  return absl::OkStatus();
}

void Spool::RefuseCost() {
  metrics_->cost_refused.Inc();
  if (!degraded_.exchange(true, std::memory_order_relaxed)) metrics_->degraded.Set(1);
}

absl::Status Spool::Append(std::string record, RecordClass cls, uint64_t* seq) {
  const size_t size = record.size();
  return Enqueue(std::move(record), nullptr, size, cls, seq);
}

absl::Status Spool::Append(std::unique_ptr<DeferredRecord> record, RecordClass cls,
                           uint64_t* seq) {
  const size_t size = std::min<size_t>(record->SizeHint(), kMaxRecordBytes);
  return Enqueue(std::string(), std::move(record), size, cls, seq);
}

absl::Status Spool::Enqueue(std::string record, std::unique_ptr<DeferredRecord> deferred,
                            size_t size, RecordClass cls, uint64_t* seq) {
  if (seq != nullptr) *seq = 0;
  const bool cost = cls == RecordClass::kCost;
  if (size > kMaxRecordBytes) {
    if (cost) RefuseCost();
    return absl::InvalidArgumentError("spool: record larger than kMaxRecordBytes");
  }
  const uint64_t bytes = EncodedRecordBytes(size);
  {
    absl::MutexLock lock(&mu_);
    if (!writer_error_.ok() || stopping_) {
      absl::Status error =
          !writer_error_.ok() ? writer_error_ : absl::FailedPreconditionError("spool: stopped");
      if (cost) {
        RefuseCost();
      } else {
        metrics_->dropped_sampled.Inc();
      }
      return error;
    }
    const uint64_t usage = disk_bytes_ + queued_bytes_ + bytes;
    if (!cost) {
      // Integer arithmetic (128-bit: quota_bytes × 100 may not fit 64 bits).
      const auto limit =
          static_cast<uint64_t>(static_cast<unsigned __int128>(options_.quota_bytes) *
                                static_cast<unsigned>(100 - options_.cost_reserve_percent) / 100);
      if (usage > limit) {
        metrics_->dropped_sampled.Inc();
        return absl::OkStatus();
      }
    } else if (usage > options_.quota_bytes) {
      RefuseCost();
      return absl::ResourceExhaustedError("spool: disk quota full, cost event refused");
    }
    const uint64_t s = next_seq_++;
    queue_.push_back(Pending{std::move(record), std::move(deferred), s, cost});
    queued_bytes_ += bytes;
    metrics_->queue_depth.Set(static_cast<int64_t>(queue_.size()));
    if (seq != nullptr) *seq = s;
  }
  if (cost) {
    metrics_->appended_cost.Inc();
    if (degraded_.load(std::memory_order_relaxed) && degraded_.exchange(false)) {
      metrics_->degraded.Set(0);
    }
  } else {
    metrics_->appended_sampled.Inc();
  }
  return absl::OkStatus();
}

absl::Status Spool::WaitDurable(uint64_t seq, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto done = [this, seq]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return durable_seq_ >= seq || !writer_error_.ok() || writer_done_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  if (durable_seq_ >= seq) return absl::OkStatus();
  if (!writer_error_.ok()) return writer_error_;
  if (writer_done_)
    return absl::FailedPreconditionError("spool: stopped before the record was durable");
  return absl::DeadlineExceededError("spool: record not durable yet");
}

absl::Status Spool::Flush(absl::Duration timeout) {
  uint64_t target;
  {
    absl::MutexLock lock(&mu_);
    target = next_seq_ - 1;
    flush_target_ = std::max(flush_target_, target);
  }
  return WaitDurable(target, timeout);
}

uint64_t Spool::durable_seq() const {
  absl::MutexLock lock(&mu_);
  return durable_seq_;
}

uint64_t Spool::disk_bytes() const {
  absl::MutexLock lock(&mu_);
  return disk_bytes_;
}

SpoolCursor Spool::committed() const {
  absl::MutexLock lock(&mu_);
  return committed_;
}

void Spool::Stop() {
  absl::MutexLock stop_lock(&stop_mu_);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (writer_.joinable()) writer_.join();
  // Nothing is written after Stop(): another spool may take the directory.
  if (lock_fd_ >= 0) {
    ::close(lock_fd_);
    lock_fd_ = -1;
  }
}

void Spool::FailWriter(const absl::Status& status) {
  spdlog::error("spool {}: {}; refusing records until reopened", options_.dir, status.ToString());
  metrics_->write_errors.Inc();
  if (!degraded_.exchange(true)) metrics_->degraded.Set(1);
  absl::MutexLock lock(&mu_);
  writer_error_ = status;
  // Accepted but unwritten records are lost with the failed file; say so loudly.
  for (const Pending& p : queue_) {
    if (p.cost) {
      metrics_->cost_refused.Inc();
    } else {
      metrics_->dropped_sampled.Inc();
    }
  }
  queue_.clear();
  queued_bytes_ = 0;
  metrics_->queue_depth.Set(0);
}

void Spool::WriterLoop() {
  const bool interval = options_.fsync_policy == FsyncPolicy::kInterval;
  const int64_t interval_ns = absl::ToInt64Nanoseconds(options_.fsync_interval);
  std::vector<Pending> batch;
  while (true) {
    bool stopping = false;
    bool flush = false;
    {
      absl::MutexLock lock(&mu_);
      auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !queue_.empty() || stopping_ || flush_target_ > durable_seq_;
      };
      while (!has_work()) {
        if (written_seq_ > synced_seq_) {
          // Unsynced records under kInterval: wake at the deadline (polled: the clock may be
          // manual).
          const int64_t remaining = last_sync_ns_ + interval_ns - clock_->MonotonicNanos();
          if (remaining <= 0) break;
          mu_.AwaitWithTimeout(absl::Condition(&has_work),
                               std::min(absl::Nanoseconds(remaining), kMaxIntervalPoll));
        } else {
          mu_.Await(absl::Condition(&has_work));
        }
      }
      // Linger for company: one write (and fsync) for many records.
      if (options_.linger > absl::ZeroDuration() && !queue_.empty() &&
          queue_.size() < kLingerRecords) {
        auto full = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return queue_.size() >= kLingerRecords || stopping_ || flush_target_ > durable_seq_;
        };
        mu_.AwaitWithTimeout(absl::Condition(&full), options_.linger);
      }
      batch.swap(queue_);
      queued_bytes_ = 0;
      metrics_->queue_depth.Set(0);
      stopping = stopping_;
      flush = flush_target_ > durable_seq_;
    }
    absl::Status status = WriteBatch(batch);
    batch.clear();
    if (status.ok() && written_seq_ > synced_seq_) {
      const bool due =
          !interval || stopping || flush || clock_->MonotonicNanos() - last_sync_ns_ >= interval_ns;
      if (due) status = SyncAndAck();
    }
    if (!status.ok()) {
      FailWriter(status);
      break;
    }
    if (stopping) {
      absl::MutexLock lock(&mu_);
      if (queue_.empty()) break;
    }
  }
  absl::MutexLock lock(&mu_);
  writer_done_ = true;
}

absl::Status Spool::WriteBatch(std::vector<Pending>& batch) {
  std::string buffer;
  uint64_t buffer_last_seq = 0;
  auto write_buffer = [&]() -> absl::Status {
    if (buffer.empty()) return absl::OkStatus();
    absl::Status s = WriteAll(active_fd_, buffer, PathOf(active_index_, false));
    if (!s.ok()) return s;
    active_written_ += buffer.size();
    written_seq_ = buffer_last_seq;
    metrics_->bytes_written.Inc(static_cast<int64_t>(buffer.size()));
    {
      absl::MutexLock lock(&mu_);
      disk_bytes_ += buffer.size();
      metrics_->disk_bytes.Set(static_cast<int64_t>(disk_bytes_));
    }
    buffer.clear();
    return absl::OkStatus();
  };
  for (Pending& p : batch) {
    if (p.deferred != nullptr) {
      p.deferred->EncodeTo(&p.payload);
      p.deferred.reset();
      if (p.payload.size() > kMaxRecordBytes) {
        spdlog::error("spool: record {} encodes to {} bytes (> {}); an empty record stands in",
                      p.seq, p.payload.size(), kMaxRecordBytes);
        p.payload.clear();
      }
    }
    const uint64_t bytes = EncodedRecordBytes(p.payload.size());
    if (active_written_ + buffer.size() > kSegmentHeaderBytes &&
        active_written_ + buffer.size() + bytes > options_.segment_bytes) {
      if (absl::Status s = write_buffer(); !s.ok()) return s;
      if (absl::Status s = RotateSegment(p.seq); !s.ok()) return s;
    }
    AppendEncodedRecord(p.payload, &buffer);
    buffer_last_seq = p.seq;
    metrics_->records_written.Inc();
  }
  return write_buffer();
}

absl::Status Spool::SyncAndAck() {
  if (::fdatasync(active_fd_) != 0) {
    return ErrnoStatus(errno, "fdatasync " + PathOf(active_index_, false));
  }
  metrics_->fsyncs.Inc();
  last_sync_ns_ = clock_->MonotonicNanos();
  synced_seq_ = written_seq_;
  // The callback runs before waiters are released: WaitDurable(seq) returning implies the
  // callback has seen seq.
  if (options_.on_durable) options_.on_durable(synced_seq_);
  {
    absl::MutexLock lock(&mu_);
    durable_seq_ = synced_seq_;
    segments_[active_index_].raw_bytes = active_written_;
    segments_[active_index_].disk_bytes = active_written_;
    metrics_->durable_seq.Set(static_cast<int64_t>(durable_seq_));
  }
  return absl::OkStatus();
}

absl::Status Spool::RotateSegment(uint64_t first_seq) {
  if (written_seq_ > synced_seq_) {
    if (absl::Status s = SyncAndAck(); !s.ok()) return s;
  }
  const uint64_t index = active_index_;
  const uint64_t raw = active_written_;
  if (::close(active_fd_) != 0) {
    active_fd_ = -1;
    return ErrnoStatus(errno, "close " + PathOf(index, false));
  }
  active_fd_ = -1;
  absl::StatusOr<SealResult> seal = SealSegment(options_.dir, index, raw, options_.zstd_level);
  if (!seal.ok()) return seal.status();
  metrics_->sealed.Inc();
  metrics_->sealed_raw_bytes.Inc(static_cast<int64_t>(seal->raw_bytes));
  metrics_->sealed_compressed_bytes.Inc(static_cast<int64_t>(seal->compressed_bytes));
  const int64_t compressed_total = metrics_->sealed_compressed_bytes.Value();
  if (compressed_total > 0) {
    metrics_->compression_ratio.Set(metrics_->sealed_raw_bytes.Value() * 1000 / compressed_total);
  }
  std::vector<std::string> consumed;
  {
    absl::MutexLock lock(&mu_);
    SegmentInfo& info = segments_[index];
    disk_bytes_ = disk_bytes_ - info.disk_bytes + seal->compressed_bytes;
    info = SegmentInfo{.sealed = true, .raw_bytes = raw, .disk_bytes = seal->compressed_bytes};
    consumed = TakeConsumedLocked(committed_);
  }
  UnlinkAll(consumed);
  return CreateSegment(index + 1, first_seq);
}

std::vector<std::string> Spool::TakeConsumedLocked(const SpoolCursor& cursor) {
  std::vector<std::string> paths;
  for (auto it = segments_.begin(); it != segments_.end();) {
    const bool before = it->first < cursor.segment ||
                        (it->first == cursor.segment && cursor.offset >= it->second.raw_bytes);
    if (!it->second.sealed || !before) break;
    paths.push_back(PathOf(it->first, true));
    disk_bytes_ -= it->second.disk_bytes;
    it = segments_.erase(it);
  }
  metrics_->disk_bytes.Set(static_cast<int64_t>(disk_bytes_));
  return paths;
}

void Spool::UnlinkAll(const std::vector<std::string>& paths) {
  for (const std::string& path : paths) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      spdlog::warn("spool {}: cannot delete consumed {}: {}", options_.dir, path,
                   std::strerror(errno));
    }
    metrics_->segments_deleted.Inc();
  }
}

absl::StatusOr<const std::string*> Spool::SealedBytes(uint64_t index) {
  if (cached_index_ != index || cached_bytes_.empty()) {
    cached_bytes_.clear();
    absl::StatusOr<std::string> bytes = ReadSegmentBytes(PathOf(index, true), true);
    if (!bytes.ok()) return bytes.status();
    cached_bytes_ = std::move(*bytes);
    cached_index_ = index;
  }
  return &cached_bytes_;
}

absl::StatusOr<std::vector<SpoolRecord>> Spool::ReadFrom(const SpoolCursor& cursor, size_t max) {
  absl::MutexLock read_lock(&read_mu_);
  std::vector<SpoolRecord> out;
  SpoolCursor at = cursor;
  // Each pass reads from one segment; a segment sealed or deleted under us is looked up again.
  for (int guard = 0; out.size() < max && guard < 1'000'000; ++guard) {
    bool sealed = false;
    uint64_t end = 0;  // logical length (sealed) or durable length (active)
    {
      absl::MutexLock lock(&mu_);
      if (segments_.empty()) break;
      auto it = segments_.lower_bound(at.segment);
      if (it == segments_.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("spool: cursor segment ", at.segment, " is past the end"));
      }
      if (it->first != at.segment) at = SpoolCursor{.segment = it->first, .offset = 0, .seq = 0};
      sealed = it->second.sealed;
      end = it->second.raw_bytes;
    }
    std::string_view data;
    uint64_t base = at.offset;
    std::string range;
    if (sealed) {
      absl::StatusOr<const std::string*> bytes = SealedBytes(at.segment);
      if (absl::IsNotFound(bytes.status())) continue;  // consumed and deleted meanwhile
      if (!bytes.ok()) return bytes.status();
      data = **bytes;
      end = data.size();
      if (at.offset < kSegmentHeaderBytes) {
        absl::StatusOr<SegmentHeader> header = DecodeSegmentHeader(data);
        if (!header.ok()) return header.status();
        at.offset = kSegmentHeaderBytes;
        at.seq = header->first_seq;
      }
      base = at.offset;
      if (base > data.size()) return absl::InvalidArgumentError("spool: cursor past segment end");
      data = data.substr(static_cast<size_t>(base));
    } else {
      if (at.offset < kSegmentHeaderBytes) {
        absl::StatusOr<std::string> head =
            ReadFileRange(PathOf(at.segment, false), 0, kSegmentHeaderBytes);
        if (absl::IsNotFound(head.status())) continue;  // sealed meanwhile
        if (!head.ok()) return head.status();
        absl::StatusOr<SegmentHeader> header = DecodeSegmentHeader(*head);
        if (!header.ok()) return header.status();
        at.offset = kSegmentHeaderBytes;
        at.seq = header->first_seq;
      }
      if (at.offset > end) return absl::InvalidArgumentError("spool: cursor past durable end");
      if (at.offset == end) break;  // caught up with the writer
      uint64_t want = std::min(end - at.offset, kReadChunkBytes);
      absl::StatusOr<std::string> chunk = ReadFileRange(PathOf(at.segment, false), at.offset, want);
      if (absl::IsNotFound(chunk.status())) continue;
      if (!chunk.ok()) return chunk.status();
      if (chunk->size() >= kRecordHeaderBytes) {
        // A record larger than the chunk: read exactly it.
        const uint64_t need = EncodedRecordBytes(GetU32(chunk->data()));
        if (need > chunk->size() && need <= end - at.offset) {
          chunk = ReadFileRange(PathOf(at.segment, false), at.offset, need);
          if (!chunk.ok()) return chunk.status();
        }
      }
      range = std::move(*chunk);
      data = range;
      base = at.offset;
    }
    ParseResult parsed = ParseRecords(data, base, max - out.size());
    for (const RecordLocation& loc : parsed.records) {
      SpoolRecord rec;
      rec.seq = at.seq;
      rec.position = at;
      rec.payload.assign(
          data.substr(static_cast<size_t>(loc.offset - base + kRecordHeaderBytes), loc.length));
      at = SpoolCursor{.segment = at.segment,
                       .offset = loc.offset + EncodedRecordBytes(loc.length),
                       .seq = at.seq + 1};
      rec.next = at;
      out.push_back(std::move(rec));
    }
    // The active segment is read in chunks: a chunk may end before the durable end.
    const bool more_in_segment = !sealed && base + data.size() < end;
    const bool chunk_cut =
        more_in_segment && parsed.stop == ParseResult::Stop::kTorn && !parsed.records.empty();
    if (parsed.stop == ParseResult::Stop::kCorrupt ||
        (parsed.stop == ParseResult::Stop::kTorn && !chunk_cut)) {
      return absl::DataLossError(
          absl::StrCat("spool: segment ", at.segment, " is corrupt at offset ", parsed.valid_end));
    }
    if (parsed.stop == ParseResult::Stop::kLimit || chunk_cut || more_in_segment) continue;
    // The segment is exhausted: move on if it is sealed, else we have caught up.
    if (!sealed) {
      absl::MutexLock lock(&mu_);
      auto it = segments_.find(at.segment);
      if (it == segments_.end() || !it->second.sealed) break;
      continue;  // sealed meanwhile: the next pass reads the rest from the sealed file
    }
    at = SpoolCursor{.segment = at.segment + 1, .offset = 0, .seq = at.seq};
  }
  return out;
}

absl::Status Spool::Commit(const SpoolCursor& cursor) {
  absl::MutexLock read_lock(&read_mu_);
  if (absl::Status s = WriteFileDurably(options_.dir, kCursorFile, EncodeCursor(cursor)); !s.ok()) {
    return s;
  }
  std::vector<std::string> consumed;
  {
    absl::MutexLock lock(&mu_);
    committed_ = cursor;
    consumed = TakeConsumedLocked(cursor);
  }
  UnlinkAll(consumed);
  return absl::OkStatus();
}

}  // namespace mangaassist::telemetry
