// The cost breaker (US-08): the degradation ladder's level 0..3 from the deployment's spend
// (settled + held) against the daily cap and from its spend velocity (the last N minutes
// against the even pace of cap ÷ day), with hysteresis: a level rises at once and falls only
// when the numbers are `hysteresis_percent` below its thresholds and it has held for
// `min_dwell`, so the ladder does not flap. Thread-safe.
//
//   level 1  spend ≥ level1_percent of the cap, or velocity ≥ velocity_level1_percent of pace:
//            model_tier_floor = haiku (no Sonnet for non-premium), aggressive RAG bypass
//   level 2  spend ≥ level2_percent or velocity ≥ velocity_level2_percent: + suspend_scale_in,
//            guests answered without a model (template/extractive)
//   level 3  spend ≥ level3_percent: template/extractive answers only (premium exempt when
//            budget.premium_exempt; the hold still has to fit under the cap)
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/synchronization/mutex.h"
#include "core/money.h"
#include "core/traffic_config.h"

namespace mangaassist::control {

struct BreakerTransition {
  int from = 0;
  int to = 0;
  std::string reason;      // "spend 86% of cap" / "velocity 640% of pace"
  std::string request_id;  // the request whose numbers moved the level
};

class CostBreaker {
 public:
  using OnTransition = std::function<void(const BreakerTransition&)>;
  CostBreaker(const core::CostBreakerConfig& config, core::Money daily_cap,
              OnTransition on_transition);

  // Feeds the deployment's current numbers (read by request `request_id`); returns the level
  // after them.
  int Observe(int64_t now_ns, core::Money used, core::Money velocity,
              std::string_view request_id = {});
  int level() const { return level_.load(std::memory_order_acquire); }

  // The level these numbers call for, thresholds lowered by `slack_percent` (hysteresis).
  int Target(core::Money used, core::Money velocity, int slack_percent, std::string* why) const;

 private:
  const core::CostBreakerConfig config_;
  const core::Money cap_;
  const OnTransition on_transition_;
  std::atomic<int> level_{0};
  absl::Mutex mu_;
  int64_t since_ns_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace mangaassist::control
