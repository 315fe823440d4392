// CostEvent: the one record every request emits (US-07) — who, what route and model, the tokens,
// per-stage latency, the cost lines in nano-USD, the counterfactual baseline cost and the
// savings attributed to each story. Plain data; encoding lives in event_codec.h, the baseline
// in baseline.h. Schema changes bump kCostEventSchemaVersion (docs/events.md).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/money.h"
#include "core/request_context.h"

namespace mangaassist::telemetry {

// 2: adds baseline_cost (the baseline by component). Version 1 events decode with it zero.
inline constexpr int kCostEventSchemaVersion = 2;

// The stories of the seed; savings are attributed to exactly one of them (baseline.h).
enum class Story { kUs01 = 0, kUs02, kUs03, kUs04, kUs05, kUs06, kUs07, kUs08, kCount };
inline constexpr size_t kStoryCount = static_cast<size_t>(Story::kCount);
inline constexpr size_t kCostComponentCount = static_cast<size_t>(core::CostComponent::kCount);

struct CostEvent {
  int schema_version = kCostEventSchemaVersion;
  std::string request_id;
  int64_t ts_unix_ms = 0;        // wall clock at the end of the request
  std::string tenant;
  std::string user_hash;         // keyed hash of user_id (never the id itself)
  std::string session_hash;      // keyed hash of session_id
  core::Tier tier = core::Tier::kGuest;
  core::Lang lang = core::Lang::kEn;
  std::string intent;            // empty when unknown
  float intent_confidence = 0;   // [0,1]; not money
  std::string intent_version;    // classifier version (model content hash); "" when none ran
  core::Route route = core::Route::kNone;
  std::string provider;          // empty when no provider was called
  std::string model;             // the model that answered (after fallback)
  core::TokenUsage usage;
  int http_status = 200;
  int degraded_level = 0;
  std::string flags_hash;        // hash of the flag snapshot the request saw ("" until US-08)
  std::array<uint16_t, core::kRedactionTypeCount> redactions{};
  std::vector<std::pair<std::string, int64_t>> stage_latency_us;  // stage name, µs, in order
  int64_t latency_us = 0;        // whole request

  std::array<core::Money, kCostComponentCount> cost{};   // by core::CostComponent
  core::Money baseline;          // what the baseline pipeline would have paid for this message
  std::array<core::Money, kCostComponentCount> baseline_cost{};  // the baseline by component
  std::array<core::Money, kStoryCount> savings{};        // by Story; sums to baseline - total

  core::Money Total() const {
    core::Money t;
    for (core::Money m : cost) t += m;
    return t;
  }
};

}  // namespace mangaassist::telemetry
