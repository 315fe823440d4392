// RoughTokenCount: a quick, deliberately simple token estimate for text no tokenizer counted —
// a stream cut before its final usage event, the extractive responder's answers, a message's
// share of the baseline when no calibrated estimator is at hand. Not the calibrated pre-call
// estimator (llm/token_estimator.h, which budgets requests). Pure; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

namespace mangaassist::core {

// One token per 4 bytes of ASCII (rounded up) and one per non-ASCII character (kana and kanji
// are roughly a token each in Claude's and GPT's tokenizers; counted by UTF-8 lead bytes);
// at least 1 for non-empty text.
int64_t RoughTokenCount(std::string_view text);

}  // namespace mangaassist::core
