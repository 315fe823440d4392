// RoughTokenCount: a quick, deliberately simple token estimate for text whose usage no provider
// reported — a stream cut before its final usage event, a cancelled stream's output so far, the
// extractive responder. Not the calibrated pre-call estimator (that one budgets requests); this
// one only keeps unreported work from being accounted as zero. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/rough_tokens.h"
#include "llm/provider.h"

namespace mangaassist::llm {

using core::RoughTokenCount;

// The prompt of `request` (system and every message, plus a few tokens of framing per message).
int64_t RoughPromptTokens(const LlmRequest& request);

}  // namespace mangaassist::llm
