// CircuitBreaker: one per provider (or model endpoint). Closed → open after N consecutive
// failures, or when failures reach X% of at least M calls in a rolling window; open refuses
// calls for a cooldown; then half-open admits K probe calls: K successes close it, a failure
// re-opens it with the cooldown grown (up to a cap). Time comes from an injected core::Clock.
// Thread-safe: one breaker is shared by every worker thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/metrics.h"

namespace mangaassist::http {

struct CircuitBreakerConfig {
  int consecutive_failures = 5;  // N; 0 disables this trigger
  double error_rate = 0.5;       // X as a fraction in (0, 1]; 0 disables this trigger
  int min_calls = 20;            // M: calls in the window before the rate counts
  absl::Duration window = absl::Seconds(30);
  int window_buckets = 10;  // the window slides by window / window_buckets
  absl::Duration cooldown = absl::Seconds(10);
  double cooldown_multiplier = 2.0;  // applied each time a half-open probe fails
  absl::Duration max_cooldown = absl::Minutes(5);
  int half_open_probes = 1;  // K
};

class CircuitBreaker {
 public:
  enum class State { kClosed = 0, kOpen = 1, kHalfOpen = 2 };  // also the state gauge's values
  static std::string_view StateName(State state);

  // `clock` (and `metrics`, may be null) must outlive the breaker. `name` labels the metrics.
  CircuitBreaker(std::string name, CircuitBreakerConfig config, const core::Clock* clock,
                 core::Registry* metrics = nullptr);
  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;
  ~CircuitBreaker();

  // Whether a call may go out now. Moves open → half-open once the cooldown has passed; in
  // half-open, true for at most K probes. Every true must be followed by exactly one Record*().
  bool Allow();
  void RecordSuccess();
  void RecordFailure();
  // The call ended without a verdict (cancelled by our client): frees its probe slot.
  void RecordAbandoned();

  // The state as of the last transition (open stays open until an Allow() after the cooldown).
  State state() const;
  // The cooldown the next (or current) open period uses.
  absl::Duration cooldown() const;
  const std::string& name() const { return name_; }

 private:
  struct Metrics;
  struct Bucket {
    int64_t epoch = -1;  // bucket index since the clock's zero; -1: unused
    int64_t calls = 0;
    int64_t failures = 0;
  };

  int64_t NowNanos() const { return clock_->MonotonicNanos(); }
  void CountLocked(bool failure) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool RateTrippedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OpenLocked(absl::Duration cooldown) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HalfOpenLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CloseLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ResetWindowLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string name_;
  const CircuitBreakerConfig config_;
  const core::Clock* const clock_;
  const int64_t bucket_nanos_;
  std::unique_ptr<core::Registry> own_registry_;  // when the caller gave none
  std::unique_ptr<Metrics> metrics_;

  mutable absl::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kClosed;
  int consecutive_failures_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  int64_t open_until_ns_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration cooldown_ ABSL_GUARDED_BY(mu_);
  int probes_admitted_ ABSL_GUARDED_BY(mu_) = 0;
  int probe_successes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace mangaassist::http
