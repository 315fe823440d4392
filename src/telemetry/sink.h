// Event sinks (US-07): where cost events end up, and the hourly rollups the KPI reports read.
// EventWriter is what the record stage writes to (a store, or the Redis Stream producer);
// EventSink is a store that also answers queries. Every EventSink passes the one shared suite
// (sink_test.cc): SQLite (embedded, sqlite_sink.h) and PostgreSQL (distributed, pg_sink.h, fed
// by pg_shipper.h from the Redis Stream written by redis_stream_sink.h).
// Implementations are thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/money.h"
#include "core/pricing.h"
#include "core/request_context.h"
#include "telemetry/event.h"

namespace mangaassist::telemetry {

inline constexpr int64_t kMillisPerHour = 3'600'000;
inline constexpr int64_t kMillisPerDay = 24 * kMillisPerHour;

// Start of the UTC hour holding `ts_unix_ms` (floor, also before 1970).
constexpr int64_t HourStartMs(int64_t ts_unix_ms) {
  int64_t q = ts_unix_ms / kMillisPerHour;
  if (ts_unix_ms % kMillisPerHour < 0) --q;
  return q * kMillisPerHour;
}

// The sums of one (hour, tier, lang, route, model) cell over the events stored in it.
struct HourlyRollup {
  int64_t hour_start_ms = 0;
  core::Tier tier = core::Tier::kGuest;
  core::Lang lang = core::Lang::kEn;
  core::Route route = core::Route::kNone;
  std::string model;

  int64_t requests = 0;
  core::TokenUsage tokens;
  std::array<core::Money, kCostComponentCount> cost{};  // by core::CostComponent
  core::Money baseline;
  std::array<core::Money, kCostComponentCount> baseline_cost{};  // the baseline by component
  std::array<core::Money, kStoryCount> savings{};  // by Story

  core::Money Total() const {
    core::Money t;
    for (core::Money m : cost) t += m;
    return t;
  }
  // Adds one event's counts and money (the caller keeps the dimensions equal).
  void Add(const CostEvent& event);
  bool SameCell(const HourlyRollup& o) const {
    return hour_start_ms == o.hour_start_ms && tier == o.tier && lang == o.lang &&
           route == o.route && model == o.model;
  }
  bool operator==(const HourlyRollup& o) const;
};

// The empty rollup cell an event falls into.
HourlyRollup RollupCellOf(const CostEvent& event);
// Order of Rollups(): hour, then tier, lang, route (enum order), then model (bytewise).
bool RollupCellLess(const HourlyRollup& a, const HourlyRollup& b);

// A cost event with its canonical JSON (EncodeCostEventJson), which stores keep as the raw
// record and the Redis Stream carries. Shippers read events already encoded (spool, stream) and
// hand both on, so no event is encoded twice on its way to the store.
struct EncodedEvent {
  CostEvent event;
  std::string json;
};

class EventWriter {
 public:
  virtual ~EventWriter() = default;
  // Durably hands `batch` on. Idempotent by request_id wherever the events end up: an event whose
  // request_id is already stored (earlier, or earlier in the same batch) is stored once and
  // counted once in the rollups. Unavailable / DeadlineExceeded when the backend is unreachable:
  // the caller keeps the batch (the spool) and retries. `json` must be the event's encoding.
  [[nodiscard]] virtual absl::Status WriteEncoded(const std::vector<EncodedEvent>& batch) = 0;
  // The same for events not encoded yet (encodes each once).
  [[nodiscard]] absl::Status Write(const std::vector<CostEvent>& batch);
};

class EventSink : public EventWriter {
 public:
  // All or nothing: on error no event of the batch is stored. With a retention window, raw
  // events older than it are deleted on write, and an incoming event already older than it is
  // dropped whole (raw and rollup): its request_id could no longer be de-duplicated, so storing
  // it could count it twice. Rollups are kept forever.
  [[nodiscard]] absl::Status WriteEncoded(const std::vector<EncodedEvent>& batch) override = 0;

  // Rollup cells with from_ms <= hour_start_ms < to_ms, in RollupCellLess order.
  [[nodiscard]] virtual absl::StatusOr<std::vector<HourlyRollup>> Rollups(int64_t from_ms,
                                                                          int64_t to_ms) = 0;
  // Raw events currently stored (after retention).
  [[nodiscard]] virtual absl::StatusOr<int64_t> CountEvents() = 0;
  // The stored event with this request_id, read back through the view cost_events_json (the
  // columns merged with `extra`); nullopt when there is none (never stored, or past retention).
  [[nodiscard]] virtual absl::StatusOr<std::optional<CostEvent>> GetEvent(
      std::string_view request_id) = 0;
};

}  // namespace mangaassist::telemetry
