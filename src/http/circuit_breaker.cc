#include "http/circuit_breaker.h"

#include <algorithm>
#include <utility>

#include "spdlog/spdlog.h"

namespace mangaassist::http {

// The breaker's metrics, declared together.
struct CircuitBreaker::Metrics {
  Metrics(core::Registry* r, const std::string& name)
      : state(r->GetGauge("mangaassist_circuit_breaker_state",
                          "Circuit breaker state: 0 closed, 1 open, 2 half-open.",
                          {{"breaker", name}})),
        to_open(r->GetCounter("mangaassist_circuit_breaker_transitions_total",
                              "Circuit breaker transitions by target state.",
                              {{"breaker", name}, {"to", "open"}})),
        to_half_open(r->GetCounter("mangaassist_circuit_breaker_transitions_total",
                                   "Circuit breaker transitions by target state.",
                                   {{"breaker", name}, {"to", "half_open"}})),
        to_closed(r->GetCounter("mangaassist_circuit_breaker_transitions_total",
                                "Circuit breaker transitions by target state.",
                                {{"breaker", name}, {"to", "closed"}})),
        rejected(r->GetCounter("mangaassist_circuit_breaker_rejected_total",
                               "Calls refused by an open or saturated half-open breaker.",
                               {{"breaker", name}})) {}

  core::Gauge& state;
  core::Counter& to_open;
  core::Counter& to_half_open;
  core::Counter& to_closed;
  core::Counter& rejected;
};

std::string_view CircuitBreaker::StateName(State state) {
  switch (state) {
    case State::kClosed:
      return "closed";
    case State::kOpen:
      return "open";
    case State::kHalfOpen:
      return "half_open";
  }
  return "unknown";
}

CircuitBreaker::CircuitBreaker(std::string name, CircuitBreakerConfig config,
                               const core::Clock* clock, core::Registry* metrics)
    : name_(std::move(name)),
      config_(std::move(config)),
      clock_(clock),
      bucket_nanos_(std::max<int64_t>(
          1, absl::ToInt64Nanoseconds(config_.window) / std::max(1, config_.window_buckets))),
      buckets_(static_cast<size_t>(std::max(1, config_.window_buckets))),
      cooldown_(config_.cooldown) {
  if (metrics == nullptr) {
    own_registry_ = std::make_unique<core::Registry>();
    metrics = own_registry_.get();
  }
  metrics_ = std::make_unique<Metrics>(metrics, name_);
  metrics_->state.Set(static_cast<int64_t>(State::kClosed));
}

CircuitBreaker::~CircuitBreaker() = default;

bool CircuitBreaker::Allow() {
  absl::MutexLock lock(&mu_);
  switch (state_) {
    case State::kClosed:
      return true;
    case State::kOpen:
      if (NowNanos() < open_until_ns_) break;
      HalfOpenLocked();
      [[fallthrough]];
    case State::kHalfOpen:
      if (probes_admitted_ < std::max(1, config_.half_open_probes)) {
        ++probes_admitted_;
        return true;
      }
      break;
  }
  metrics_->rejected.Inc();
  return false;
}

void CircuitBreaker::RecordSuccess() {
  absl::MutexLock lock(&mu_);
  switch (state_) {
    case State::kClosed:
      consecutive_failures_ = 0;
      CountLocked(/*failure=*/false);
      return;
    case State::kOpen:
      return;  // a call admitted before the breaker opened
    case State::kHalfOpen:
      if (probe_successes_ >= probes_admitted_) return;  // not one of the probes
      if (++probe_successes_ >= std::max(1, config_.half_open_probes)) CloseLocked();
      return;
  }
}

void CircuitBreaker::RecordFailure() {
  absl::MutexLock lock(&mu_);
  switch (state_) {
    case State::kClosed:
      ++consecutive_failures_;
      CountLocked(/*failure=*/true);
      if ((config_.consecutive_failures > 0 &&
           consecutive_failures_ >= config_.consecutive_failures) ||
          RateTrippedLocked()) {
        OpenLocked(cooldown_);
      }
      return;
    case State::kOpen:
      return;
    case State::kHalfOpen:
      if (probe_successes_ >= probes_admitted_) return;
      cooldown_ = std::min(config_.max_cooldown, cooldown_ * config_.cooldown_multiplier);
      OpenLocked(cooldown_);
      return;
  }
}

void CircuitBreaker::RecordAbandoned() {
  absl::MutexLock lock(&mu_);
  if (state_ == State::kHalfOpen && probes_admitted_ > probe_successes_) --probes_admitted_;
}

CircuitBreaker::State CircuitBreaker::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

absl::Duration CircuitBreaker::cooldown() const {
  absl::MutexLock lock(&mu_);
  return cooldown_;
}

void CircuitBreaker::CountLocked(bool failure) {
  const int64_t epoch = NowNanos() / bucket_nanos_;
  Bucket& bucket = buckets_[static_cast<size_t>(epoch % static_cast<int64_t>(buckets_.size()))];
  if (bucket.epoch != epoch) bucket = Bucket{epoch, 0, 0};
  ++bucket.calls;
  if (failure) ++bucket.failures;
}

bool CircuitBreaker::RateTrippedLocked() {
  if (config_.error_rate <= 0) return false;
  const int64_t now_epoch = NowNanos() / bucket_nanos_;
  const int64_t oldest = now_epoch - static_cast<int64_t>(buckets_.size()) + 1;
  int64_t calls = 0;
  int64_t failures = 0;
  for (const Bucket& bucket : buckets_) {
    if (bucket.epoch < oldest || bucket.epoch > now_epoch) continue;
    calls += bucket.calls;
    failures += bucket.failures;
  }
  return calls > 0 && calls >= config_.min_calls &&
         static_cast<double>(failures) >= config_.error_rate * static_cast<double>(calls);
}

void CircuitBreaker::OpenLocked(absl::Duration cooldown) {
  const State from = state_;
  state_ = State::kOpen;
  open_until_ns_ = NowNanos() + absl::ToInt64Nanoseconds(cooldown);
  consecutive_failures_ = 0;
  probes_admitted_ = 0;
  probe_successes_ = 0;
  ResetWindowLocked();
  metrics_->state.Set(static_cast<int64_t>(State::kOpen));
  metrics_->to_open.Inc();
  spdlog::warn("circuit breaker '{}': {} -> open for {}", name_, StateName(from),
               absl::FormatDuration(cooldown));
}

void CircuitBreaker::HalfOpenLocked() {
  state_ = State::kHalfOpen;
  probes_admitted_ = 0;
  probe_successes_ = 0;
  metrics_->state.Set(static_cast<int64_t>(State::kHalfOpen));
  metrics_->to_half_open.Inc();
}

void CircuitBreaker::CloseLocked() {
  state_ = State::kClosed;
  consecutive_failures_ = 0;
  cooldown_ = config_.cooldown;
  ResetWindowLocked();
  metrics_->state.Set(static_cast<int64_t>(State::kClosed));
  metrics_->to_closed.Inc();
  spdlog::info("circuit breaker '{}': half_open -> closed", name_);
}

void CircuitBreaker::ResetWindowLocked() {
  for (Bucket& bucket : buckets_) bucket = Bucket{};
}

}  // namespace mangaassist::http
