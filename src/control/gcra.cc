#include "control/gcra.h"

#include <algorithm>

namespace mangaassist::control {

int64_t GcraLimit::EmissionNs() const {
  const __int128 p = period_ns;
  const int64_t t = static_cast<int64_t>((p + limit - 1) / limit);
  return std::max<int64_t>(1, t);
}

GcraResult GcraDecide(const GcraLimit& limit, int64_t stored_tat_ns, int64_t now_ns,
                      int64_t cost) {
  const int64_t t = limit.EmissionNs();
  const int64_t capacity_ns = t * limit.burst;
  GcraResult r;
  const int64_t tat = std::max(stored_tat_ns, now_ns);
  r.tat_ns = stored_tat_ns;
  if (cost > limit.burst) {
    r.retry_after_ns = -1;
    r.reset_after_ns = tat - now_ns;
    r.remaining = std::max<int64_t>(0, (capacity_ns - (tat - now_ns)) / t);
    return r;
  }
  const int64_t new_tat = tat + t * cost;
  const int64_t allow_at = new_tat - capacity_ns;
  if (now_ns < allow_at) {
    r.retry_after_ns = allow_at - now_ns;
    r.reset_after_ns = tat - now_ns;
    r.remaining = std::max<int64_t>(0, (capacity_ns - (tat - now_ns)) / t);
    return r;
  }
  r.allowed = true;
  r.tat_ns = new_tat;
  r.reset_after_ns = new_tat - now_ns;
  r.remaining = std::max<int64_t>(0, (capacity_ns - (new_tat - now_ns)) / t);
  return r;
}

int64_t GcraAdjust(const GcraLimit& limit, int64_t stored_tat_ns, int64_t now_ns, int64_t delta) {
  const int64_t tat = std::max(stored_tat_ns, now_ns);
  return std::max(now_ns, tat + limit.EmissionNs() * delta);
}

}  // namespace mangaassist::control
