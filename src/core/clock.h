// Clock: the one source of time. Injected wherever time matters (rate limits, TTLs, budgets,
// replay) so tests and replay run on a manual/virtual clock. Implementations are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"

namespace mangaassist::core {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time (for day boundaries and event timestamps).
  virtual absl::Time Now() const = 0;
  // Monotonic nanoseconds (for latencies and deadlines); never goes backwards.
  virtual int64_t MonotonicNanos() const = 0;
};

// The process clock. A process-wide singleton; never destroyed.
Clock& SystemClock();

// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(absl::Time start = absl::FromUnixSeconds(1'793'000'000))
      : nanos_(absl::ToUnixNanos(start)) {}
  absl::Time Now() const override { return absl::FromUnixNanos(nanos_.load()); }
  int64_t MonotonicNanos() const override { return nanos_.load(); }
  void Advance(absl::Duration d) { nanos_.fetch_add(absl::ToInt64Nanoseconds(d)); }
  void Set(absl::Time t) { nanos_.store(absl::ToUnixNanos(t)); }

 private:
  std::atomic<int64_t> nanos_;
};

}  // namespace mangaassist::core
