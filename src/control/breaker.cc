#include "control/breaker.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace mangaassist::control {

CostBreaker::CostBreaker(const core::CostBreakerConfig& config, core::Money daily_cap,
                         OnTransition on_transition)
    : config_(config), cap_(daily_cap), on_transition_(std::move(on_transition)) {}

int CostBreaker::Target(core::Money used, core::Money velocity, int slack_percent,
                        std::string* why) const {
  if (cap_ <= core::Money::Zero()) return 0;
  // Percentages in integers: used × 100 / cap, velocity × 100 / pace (pace = cap × min / 1440).
  const __int128 cap = cap_.nanos();
  const int64_t spend_pct = static_cast<int64_t>(static_cast<__int128>(used.nanos()) * 100 / cap);
  const int64_t minutes = absl::ToInt64Minutes(config_.velocity_window);
  const __int128 pace = cap * minutes / 1440;
  const int64_t vel_pct =
      pace > 0 ? static_cast<int64_t>(static_cast<__int128>(velocity.nanos()) * 100 / pace) : 0;
  auto spend_at = [&](int threshold) { return spend_pct >= threshold - slack_percent; };
  auto vel_at = [&](int threshold) {
    return vel_pct * 100 >= static_cast<int64_t>(threshold) * (100 - slack_percent);
  };
  int level = 0;
  if (spend_at(config_.level1_percent) || vel_at(config_.velocity_level1_percent)) level = 1;
  if (spend_at(config_.level2_percent) || vel_at(config_.velocity_level2_percent)) level = 2;
  if (spend_at(config_.level3_percent)) level = 3;
  if (why != nullptr) {
    *why = absl::StrCat("spend ", spend_pct, "% of the daily cap, velocity ", vel_pct,
                        "% of the even pace over ", minutes, " min");
  }
  return level;
}

int CostBreaker::Observe(int64_t now_ns, core::Money used, core::Money velocity,
                         std::string_view request_id) {
  std::string why;
  const int up = Target(used, velocity, 0, &why);
  BreakerTransition t;
  {
    absl::MutexLock lock(&mu_);
    const int current = level_.load(std::memory_order_relaxed);
    int next = current;
    if (up > current) {
      next = up;
    } else if (up < current &&
               now_ns - since_ns_ >= absl::ToInt64Nanoseconds(config_.min_dwell)) {
      const int down = Target(used, velocity, config_.hysteresis_percent, nullptr);
      if (down < current) next = down;
    }
    if (next == current) return current;
    level_.store(next, std::memory_order_release);
    since_ns_ = now_ns;
    t = BreakerTransition{current, next, why, std::string(request_id)};
  }
  if (on_transition_) on_transition_(t);
  return t.to;
}

}  // namespace mangaassist::control
