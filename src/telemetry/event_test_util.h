// Test helper shared by the event codec and event store suites: an event with every field set
// to something other than its default. Header-only, tests only.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/money.h"
#include "telemetry/event.h"

namespace mangaassist::telemetry {

// Every field set to something other than its default.
inline CostEvent FullEvent() {
  CostEvent e;
  e.request_id = "req-7f3a";
  e.ts_unix_ms = 1'793'000'000'123;
  e.tenant = "acme";
  e.user_hash = "0123456789abcdef0123456789abcdef";
  e.session_hash = "fedcba9876543210fedcba9876543210";
  e.tier = core::Tier::kPremium;
  e.lang = core::Lang::kMixed;
  e.intent = "product_search";
  e.intent_confidence = 0.9375f;
  e.intent_version = "i1-0123456789ab";
  e.route = core::Route::kSemanticCache;
  e.provider = "bedrock";
  e.model = "anthropic.claude-3-5-haiku-20241022-v1:0";
  e.usage = {1234, 567, 89, 10};
  e.http_status = 203;
  e.degraded_level = 2;
  e.flags_hash = "flags-1";
  for (size_t i = 0; i < e.redactions.size(); ++i) e.redactions[i] = static_cast<uint16_t>(i + 1);
  e.redactions[6] = 65535;
  e.stage_latency_us = {{"admit", 12}, {"normalize", 345}, {"call \"x\"", 67890}};
  e.latency_us = 70'000;
  for (size_t i = 0; i < e.cost.size(); ++i) {
    e.cost[i] = core::Money::FromNanos(static_cast<int64_t>(1000 * i + 7));
  }
  e.baseline = core::Money::FromNanos(14'245'119);
  e.baseline_cost[static_cast<size_t>(core::CostComponent::kLlmInput)] =
      core::Money::FromNanos(14'000'000);
  e.baseline_cost[static_cast<size_t>(core::CostComponent::kCompute)] =
      core::Money::FromNanos(245'119);
  for (size_t i = 0; i < e.savings.size(); ++i) {
    e.savings[i] = core::Money::FromNanos(static_cast<int64_t>(i) * 1'000'003 - 2'000'000);
  }
  return e;
}

}  // namespace mangaassist::telemetry
