// TrafficControl: US-08's request-path facade over API keys, GCRA rate limits, the daily budget
// holds (ControlStore), the ledger and the cost breaker. Built once from Config; the `admit`,
// `reserve` and `settle` stages call it, /admin/budget reads it. Thread-safe.
#pragma once

#include <memory>
#include <thread>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "control/breaker.h"
#include "control/ledger.h"
#include "control/store.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/metrics.h"
#include "core/request_context.h"

namespace mangaassist::control {

// The flags this facade honours, resolved by the flag evaluator for one request.
struct TrafficFlags {
  bool degradation_active = false;  // the ladder is at least at level 2
  bool breaker_enabled = true;      // false: the ladder stays at 0 (the cap still holds)
  bool rate_limits_enabled = true;
  bool budget_enabled = true;
};

// One cap's state for /admin/budget.
struct CapView {
  std::string scope;  // "deployment", "tenant:acme", "key:frontend"
  core::Money cap;
  core::Money spent;
  core::Money held;
};

struct BudgetView {
  std::string day;
  std::string time_zone;
  int level = 0;
  core::Money velocity;
  std::vector<CapView> caps;
  std::string store;
  std::string ledger;
};

class TrafficControl {
 public:
  // `on_transition` (may be null) hears every breaker level change (the audit trail).
  static absl::StatusOr<std::unique_ptr<TrafficControl>> Create(
      const core::Config& config, const core::Clock* clock, core::Registry* metrics,
      CostBreaker::OnTransition on_transition);
  ~TrafficControl();

  // `admit`: the presented key (ctx.api_key) → key name, tenant, tier; clears the key.
  // Unauthenticated for an unknown key or a missing one when guests are not allowed.
  absl::Status Authenticate(core::RequestContext& ctx) const;

  // `reserve`, first half: the breaker level and its effects on this request (ctx.traffic,
  // ctx.degraded_level), before the hold is sized.
  void Degrade(core::RequestContext& ctx, const TrafficFlags& flags) const;

  // `reserve`, second half: every rate limit of the request (requests and `tokens`) and a hold
  // of `amount` on every applicable daily cap, in one store call. ResourceExhausted when a
  // limit refuses (with RateLimit-* and Retry-After in ctx.response_headers); a cap that
  // refuses the hold marks ctx.traffic.over_budget (no model call) instead of failing.
  absl::Status Acquire(core::RequestContext& ctx, const TrafficFlags& flags, core::Money amount,
                       int64_t tokens);

  // `settle`: the hold becomes the actual LLM cost (ctx.cost), token limits are corrected to
  // the tokens used, and the ledger gets its row. Safe to call more than once.
  void Settle(core::RequestContext& ctx);

  absl::StatusOr<BudgetView> Budget();

  // The budget day of `t` ("2026-11-27" in budget.time_zone) and the time its next day starts.
  std::string Day(absl::Time t) const;
  absl::Time NextDay(absl::Time t) const;

  int level() const { return breaker_->level(); }
  Ledger* ledger() { return ledger_.get(); }
  ControlStore* store() { return store_.get(); }

 private:
  struct Hold;
  // The API keys: from the config, plus PostgreSQL's `api_keys` when auth.postgres is set
  // (reloaded every auth.refresh; a failed reload keeps the last table).
  struct KeyTable {
    absl::flat_hash_map<std::string, core::ApiKeyConfig> by_hash;  // sha256 hex → key
    absl::flat_hash_map<std::string, const core::ApiKeyConfig*> by_name;
  };
  std::shared_ptr<const KeyTable> Keys() const;
  absl::Status ReloadKeys();
  void RefreshLoop();
  TrafficControl() = default;

  std::vector<CapCheck> Caps(const std::string& day, const core::RequestContext& ctx,
                             const core::ApiKeyConfig* key) const;
  std::vector<LimitCheck> Limits(const core::RequestContext& ctx, int64_t tokens,
                                 std::vector<LimitCheck>* token_limits) const;
  absl::StatusOr<std::vector<core::Money>> SeedFromLedger(const std::vector<std::string>& keys);
  void PreloadDay(const std::string& day);

  const core::Config* config_ = nullptr;
  const core::Clock* clock_ = nullptr;
  absl::TimeZone tz_;
  mutable absl::Mutex keys_mu_;
  std::shared_ptr<const KeyTable> keys_ ABSL_GUARDED_BY(keys_mu_);
  bool stopping_ ABSL_GUARDED_BY(keys_mu_) = false;
  std::thread refresher_;
  std::unique_ptr<Ledger> ledger_;
  std::unique_ptr<ControlStore> store_;
  std::unique_ptr<CostBreaker> breaker_;
  core::Counter* limited_ = nullptr;
  core::Counter* over_budget_ = nullptr;
  core::Gauge* level_gauge_ = nullptr;
  core::Gauge* suspend_scale_in_ = nullptr;  // the autoscaler's signal (level >= 2)
  absl::Mutex day_mu_;
  std::string preloaded_day_ ABSL_GUARDED_BY(day_mu_);
};

// Hex SHA-256 of a presented key (how keys are configured and stored).
std::string KeyDigest(std::string_view key);

// The enabled keys of PostgreSQL table `api_keys` (created if missing): name, sha256 (hex),
// tenant, tier (guest|member|premium), daily_budget_nanos (0: none), disabled.
absl::StatusOr<std::vector<core::ApiKeyConfig>> LoadPostgresKeys(const std::string& conninfo);

}  // namespace mangaassist::control
