// GCRA, the generic cell rate algorithm (as redis-cell): a limit of `limit` units per `period`
// with a capacity of `burst` units at once is one stored number per key, the theoretical
// arrival time (TAT). Pure arithmetic on integer nanoseconds, shared by the in-process store and
// mirrored line by line by the Redis Lua script (control/redis_store.cc).
#pragma once

#include <cstdint>

namespace mangaassist::control {

struct GcraLimit {
  int64_t limit = 0;      // units per period (> 0)
  int64_t period_ns = 0;  // (> 0)
  int64_t burst = 0;      // units admitted at once (>= 1)

  // Time one unit adds to the TAT (the emission interval), rounded up so that the rate never
  // exceeds the limit; at least 1 ns.
  int64_t EmissionNs() const;
};

struct GcraResult {
  bool allowed = false;
  int64_t tat_ns = 0;          // the TAT to store (unchanged when denied)
  int64_t remaining = 0;       // units still admissible right now after this decision
  int64_t retry_after_ns = 0;  // when denied: wait this long (-1: `cost` exceeds the burst)
  int64_t reset_after_ns = 0;  // until the limit is fully replenished
};

// Decides whether `cost` units may pass at `now_ns` given the stored TAT (0: never used).
GcraResult GcraDecide(const GcraLimit& limit, int64_t stored_tat_ns, int64_t now_ns, int64_t cost);

// The TAT after returning (delta < 0) or charging (delta > 0) units already decided, e.g. the
// difference between a token estimate and the tokens actually used. Never below `now_ns` minus
// nothing: a refund cannot create credit beyond a full bucket.
int64_t GcraAdjust(const GcraLimit& limit, int64_t stored_tat_ns, int64_t now_ns, int64_t delta);

}  // namespace mangaassist::control
