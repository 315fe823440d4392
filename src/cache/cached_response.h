// CachedResponse: the value the exact response cache stores under a llmresp: key — the answer,
// the model that gave it, its finish reason, and the usage and LLM cost lines the original call
// paid (a hit costs nothing and is credited with that amount as US-03 savings). Encoded as a
// small versioned JSON object, so an operator can read it with redis-cli. Plain data;
// the functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/money.h"
#include "core/pricing.h"
#include "core/request_context.h"

namespace mangaassist::cache {

struct CachedResponse {
  std::string answer;
  std::string model;                       // the provider model that answered
  core::Route route = core::Route::kNone;  // how the original was answered (haiku, sonnet, ...)
  std::string finish_reason;  // "stop" | "stop_sequence" (only complete answers are cached)
  core::TokenUsage usage;     // what the original call consumed
  core::Money llm_input, llm_output, llm_cache_read, llm_cache_write;  // what it paid
  int64_t created_unix_ms = 0;
};

std::string EncodeCachedResponse(const CachedResponse& r);
// InvalidArgument for anything that is not a value EncodeCachedResponse wrote (another schema
// version, a truncated or foreign value): the caller treats it as a miss.
absl::StatusOr<CachedResponse> DecodeCachedResponse(std::string_view bytes);

}  // namespace mangaassist::cache
