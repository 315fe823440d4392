// Answer lengths (output tokens) per intent: the distribution the trace generator draws a
// message's `output_tokens` from and the `simulated` provider falls back on when a trace line
// has none. Piecewise uniform between six quantiles (p0, p20, p40, p60, p80, p100): one of the
// five 20% bands is chosen uniformly, then a value uniformly inside it. Integer only, so a draw
// is the same on every platform. The table is in docs/replay.md. Pure; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string_view>

namespace mangaassist::llm {

struct AnswerLengthQuantiles {
  std::string_view intent;          // "default" for the fallback row
  std::array<int64_t, 6> tokens{};  // p0, p20, p40, p60, p80, p100; non-decreasing
};

// The row of `intent`, or the "default" row for an unknown or empty intent.
const AnswerLengthQuantiles& AnswerLengthsFor(std::string_view intent);

// Every row, the "default" row last.
const AnswerLengthQuantiles* AnswerLengthTable(size_t* size);

// A draw from `q` with two uniform 64-bit words (e.g. two outputs of a 64-bit engine or hash).
int64_t DrawAnswerLength(const AnswerLengthQuantiles& q, uint64_t band_word, uint64_t value_word);

// Uniform integer in [0, n) from one 64-bit word (multiply-shift; n > 0). Bias ≤ n / 2^64.
inline uint64_t ScaleToRange(uint64_t word, uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(word) * n) >> 64);
}

// FNV-1a 64 over `parts`, then a SplitMix64 finalizer: a well-mixed stateless hash used where
// a simulated decision must not depend on call order (thread-safe, reproducible).
uint64_t MixHash(std::initializer_list<std::string_view> parts, uint64_t salt);

}  // namespace mangaassist::llm
