// US-08 traffic-based cost control: the configuration of API keys, rate limits, the daily
// budget with its reservation ledger, the degradation breaker and idempotent retries
// (docs/operations.md, "Traffic control"). Part of Config; parsed and validated with it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "core/money.h"
#include "core/request_context.h"

namespace mangaassist::core {

// One API key: only its SHA-256 is configured; the key itself never is.
struct ApiKeyConfig {
  std::string name;            // the map key in `auth.keys` (logs, events, ledger rows)
  std::string sha256;          // lower-case hex
  std::string tenant = "default";
  Tier tier = Tier::kMember;
  Money daily_budget;          // zero: no per-key cap
};

struct AuthConfig {
  // Requests without a key are guests of tenant `default` (false: 401 without a key).
  bool allow_guests = true;
  // A keyless request's `tier` field is believed (the chat front end is the trusted caller of
  // the embedded set-up). false: keyless requests are guests whatever they claim.
  bool trust_client_tier = true;
  std::vector<ApiKeyConfig> keys;
  // Also read keys from PostgreSQL table `api_keys` (docs/operations.md), refreshed this often.
  std::string postgres;
  absl::Duration refresh = absl::Seconds(30);
};

// A GCRA limit (as redis-cell): `requests` (and/or `tokens`) per `period`, with at most `burst`
// requests (`token_burst` tokens) at once.
enum class RateScope { kUser = 0, kIp, kTenant, kTier, kKey };
struct RateRuleConfig {
  std::string name;            // the map key in `rate_limits.rules`
  RateScope scope = RateScope::kUser;
  std::vector<Tier> tiers;     // empty: every tier
  int64_t requests = 0;        // 0: no request limit
  int64_t burst = 0;           // 0: = requests
  int64_t tokens = 0;          // 0: no token limit
  int64_t token_burst = 0;     // 0: = tokens
  absl::Duration period = absl::Minutes(1);
};

struct RateLimitsConfig {
  bool enabled = true;
  std::vector<RateRuleConfig> rules;
  // Replicas sharing the Redis store: while it is unreachable each replica limits in-process
  // at limit ÷ replicas (and budget ÷ replicas of what was left).
  int replicas = 1;
};

struct BudgetConfig {
  bool enabled = true;
  Money daily_cap;                       // the deployment's LLM spend per day; zero: no cap
  std::map<std::string, Money> tenants;  // per-tenant daily caps
  std::string time_zone = "Asia/Tokyo";  // the day resets at local midnight
  // Added to the pre-call input token estimate of every hold (the estimate can be low).
  int estimate_margin_percent = 20;
  // A hold not settled within this (a crashed replica) is released by the store.
  absl::Duration hold_ttl = absl::Minutes(10);
  bool premium_exempt = true;   // premium requests may still call a model at level 3
  std::string floor_model = "haiku";  // the alias non-premium requests drop to at level >= 1
  // The ledger of settled spend: sqlite (embedded) or postgres (distributed).
  std::string ledger = "sqlite";
  std::string ledger_sqlite_path = "${MANGAASSIST_VAR:-../var}/control/ledger.db";
  std::string ledger_postgres;
};

// The degradation ladder (levels 0..3) from spend against the cap and spend velocity.
struct CostBreakerConfig {
  int level1_percent = 70;   // of the daily cap spent or held
  int level2_percent = 85;
  int level3_percent = 97;
  absl::Duration velocity_window = absl::Minutes(10);
  // Spend in the window against the even pace (cap ÷ day × window), in percent.
  int velocity_level1_percent = 300;
  int velocity_level2_percent = 600;
  int hysteresis_percent = 5;           // step down only this far below a threshold...
  absl::Duration min_dwell = absl::Minutes(5);  // ...and after this long at the level
};

struct IdempotencyConfig {
  bool enabled = true;
  absl::Duration ttl = absl::Hours(24);
  size_t max_response_bytes = 1 << 20;
};

}  // namespace mangaassist::core
