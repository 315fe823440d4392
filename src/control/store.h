// ControlStore: the state behind US-08's rate limits and budget holds, one atomic decision per
// request. Acquire checks every GCRA limit and every daily cap of a request together and takes
// all of them or none (a request refused by one limit consumes nothing from the others); Settle
// turns a hold into the actual spend. Two backends pass one shared test suite
// (store_test.cc): in-process (one replica) and Redis (one Lua script per call: N replicas share
// limits and caps atomically). Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "control/gcra.h"
#include "core/clock.h"
#include "core/metrics.h"
#include "core/money.h"

namespace mangaassist::control {

// One GCRA limit of one request: `cost` units against `limit` under `key`.
struct LimitCheck {
  std::string key;  // e.g. "rate:user:acme:u123:per_user:req"
  GcraLimit limit;
  int64_t cost = 1;
};

// One daily cap: spent + held + the new hold must stay within `cap`.
struct CapCheck {
  std::string key;  // e.g. "cost:2026-11-27:tenant:acme"
  core::Money cap;
};

struct CapState {
  core::Money spent;  // settled today
  core::Money held;   // reserved by requests in flight
};

struct AcquireRequest {
  std::string hold_id;  // the request_id; Settle names the hold by it
  int64_t now_ns = 0;   // unix nanoseconds
  std::vector<LimitCheck> limits;
  std::vector<CapCheck> caps;  // caps[0], when present, is the deployment's (velocity)
  core::Money amount;          // the hold (zero: limits only)
  int64_t hold_ttl_ns = 0;     // an unsettled hold is released after this
  int velocity_minutes = 0;    // sum caps[0]'s spend over this many whole minutes
};

enum class AcquireOutcome { kOk = 0, kRateLimited, kOverBudget };

struct AcquireResult {
  AcquireOutcome outcome = AcquireOutcome::kOk;
  int denied = -1;               // index into limits (kRateLimited) or caps (kOverBudget)
  int64_t retry_after_ns = 0;    // kRateLimited: when to retry (-1: the cost exceeds the burst)
  // For the RateLimit-* headers: the limit with the fewest units left.
  int tightest = -1;
  int64_t remaining = 0;
  int64_t reset_after_ns = 0;
  std::vector<CapState> caps;    // each cap's state after the decision
  core::Money velocity;          // caps[0]'s settled spend in the last velocity_minutes
};

struct SettleRequest {
  std::string hold_id;
  int64_t now_ns = 0;
  std::vector<CapCheck> caps;       // as reserved
  core::Money held;                 // as reserved
  core::Money actual;               // what the request really cost (zero: a release)
  std::vector<LimitCheck> adjust;   // token corrections: cost = used − estimated (may be < 0)
};

class ControlStore {
 public:
  virtual ~ControlStore() = default;
  virtual absl::StatusOr<AcquireResult> Acquire(const AcquireRequest& request) = 0;
  // Idempotent by hold_id: a second settle of the same hold changes nothing. A hold that
  // expired (and was released) still adds its actual spend.
  virtual absl::Status Settle(const SettleRequest& request) = 0;
  // The caps' current state and caps[0]'s velocity (the breaker and GET /admin/budget).
  virtual absl::StatusOr<AcquireResult> Read(const std::vector<CapCheck>& caps, int64_t now_ns,
                                             int velocity_minutes) = 0;
  // Raises each cap's settled spend to at least `spent` (from the ledger at start-up, so a
  // restarted replica does not forget today's spend). Never lowers it.
  virtual absl::Status Preload(const std::vector<std::string>& keys,
                               const std::vector<core::Money>& spent) = 0;
  virtual std::string_view backend() const = 0;
};

std::unique_ptr<ControlStore> NewMemoryStore();

// The spend the ledger (control/ledger.h) holds today for each cap key, asked by the Redis store
// when its counters are missing (a new day, a restarted or flushed Redis): Redis is the
// ledger's read-through cache, never the authority.
using SeedFn =
    std::function<absl::StatusOr<std::vector<core::Money>>(const std::vector<std::string>& keys)>;

struct RedisStoreOptions {
  std::string url;   // redis://host:port/db (the `cost` keyspace's; db 0 by default)
  int pool_size = 4;
  absl::Duration connect_timeout = absl::Milliseconds(100);
  absl::Duration command_timeout = absl::Milliseconds(50);
  absl::Duration backoff_initial = absl::Milliseconds(100);
  absl::Duration backoff_max = absl::Seconds(5);
  const core::Clock* clock = &core::SystemClock();
  // While Redis is unreachable: limits and what was left of each cap are divided by this and
  // enforced in-process; spend settled meanwhile is added to Redis when it is back.
  int replicas = 1;
  SeedFn seed;       // null: missing counters start at zero
  core::Registry* metrics = nullptr;
};

absl::StatusOr<std::unique_ptr<ControlStore>> NewRedisStore(const RedisStoreOptions& options);

}  // namespace mangaassist::control
