// Test helpers of the sink suites (sink_test.cc, pg_shipper_test.cc): reproducible random
// events and the brute-force rollup every sink must agree with. Header-only, tests only.
#pragma once

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/money.h"
#include "telemetry/sink.h"

namespace mangaassist::telemetry {

// Random but reproducible events over `hours` hours from `start_ms`.
inline std::vector<CostEvent> RandomEvents(std::mt19937_64& rng, int n, int64_t start_ms, int hours,
                                           const std::string& id_prefix) {
  const std::vector<std::string> models = {"", "claude-3-5-haiku", "claude-3-5-sonnet",
                                           "モデル \"quoted\",\tcomma"};
  std::vector<CostEvent> out;
  for (int i = 0; i < n; ++i) {
    CostEvent e;
    e.request_id = id_prefix + std::to_string(i);
    e.ts_unix_ms =
        start_ms + static_cast<int64_t>(rng() % (static_cast<uint64_t>(hours) * 3'600'000));
    e.tenant = "t" + std::to_string(rng() % 3);
    e.tier = static_cast<core::Tier>(rng() % 3);
    e.lang = static_cast<core::Lang>(rng() % 3);
    e.route = static_cast<core::Route>(rng() % 7);
    e.model = models[rng() % models.size()];
    e.intent = "order_status";
    e.usage.input_tokens = static_cast<int64_t>(rng() % 5000);
    e.usage.output_tokens = static_cast<int64_t>(rng() % 800);
    e.usage.cache_read_tokens = static_cast<int64_t>(rng() % 3000);
    e.usage.cache_write_tokens = static_cast<int64_t>(rng() % 100);
    for (core::Money& c : e.cost)
      c = core::Money::FromNanos(static_cast<int64_t>(rng() % 50'000'000));
    e.baseline = e.Total() + core::Money::FromNanos(static_cast<int64_t>(rng() % 90'000'000));
    {  // the baseline by component, summing to the total (schema 2)
      core::Money rest = e.baseline;
      for (size_t c = 0; c + 1 < kCostComponentCount; ++c) {
        e.baseline_cost[c] = core::Money::FromNanos(rest.nanos() / 10);
        rest -= e.baseline_cost[c];
      }
      e.baseline_cost[kCostComponentCount - 1] = rest;
    }
    core::Money left = e.baseline - e.Total();
    for (size_t s = 0; s + 1 < kStoryCount; ++s) {
      core::Money part = core::Money::FromNanos(left.nanos() / 8);
      e.savings[s] = part;
      left -= part;
    }
    e.savings[kStoryCount - 1] = left;
    out.push_back(std::move(e));
  }
  return out;
}

// The rollups of `events` (unique by request_id, first wins) with from <= hour < to.
inline std::vector<HourlyRollup> BruteForce(const std::vector<CostEvent>& events, int64_t from_ms,
                                            int64_t to_ms) {
  std::map<std::string, const CostEvent*> unique;
  for (const CostEvent& e : events) unique.emplace(e.request_id, &e);
  std::vector<HourlyRollup> cells;
  for (const auto& [id, e] : unique) {
    HourlyRollup cell = RollupCellOf(*e);
    if (cell.hour_start_ms < from_ms || cell.hour_start_ms >= to_ms) continue;
    auto it = std::find_if(cells.begin(), cells.end(),
                           [&](const HourlyRollup& c) { return c.SameCell(cell); });
    if (it == cells.end()) {
      cells.push_back(cell);
      it = cells.end() - 1;
    }
    it->Add(*e);
  }
  std::sort(cells.begin(), cells.end(), RollupCellLess);
  return cells;
}

}  // namespace mangaassist::telemetry
