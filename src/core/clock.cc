#include "core/clock.h"

#include <chrono>

#include "absl/time/clock.h"

namespace mangaassist::core {
namespace {

class SystemClockImpl final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  int64_t MonotonicNanos() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace

Clock& SystemClock() {
  static auto* clock = new SystemClockImpl();
  return *clock;
}

}  // namespace mangaassist::core
