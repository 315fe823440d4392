// TokenEstimator: a calibrated pre-call estimate of a Claude prompt's input tokens, for the
// budget reservation made before a request goes upstream. Claude 3's tokenizer is not public, so
// the text is counted per script class (Latin words and letters, romaji-shaped words, digits,
// spaces, punctuation, hiragana, katakana, kanji, other) in one linear UTF-8 pass, and each class
// is weighted by a coefficient fitted against Anthropic's published tokenizer
// (config/token_calibration.yaml, scripts/calibrate-tokens.mjs, docs/token-estimator.md). The
// estimate is deliberately a little high (headroom), and an online correction per language
// learns from the input usage providers report afterwards.
// Thread-safety: Estimate*/correction() may run concurrently with each other and with Observe();
// the calibration is immutable and the correction factors are lock-free atomics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/language.h"
#include "llm/provider.h"

namespace mangaassist::llm {

// What the estimator counts in a text. Full-width ASCII (U+FF01–U+FF5E) and the ideographic space
// count as their ASCII forms, as after NFKC; half-width katakana counts as katakana.
struct ScriptCounts {
  int64_t latin_words = 0;     // maximal runs of ASCII letters
  int64_t latin_letters = 0;   // ASCII letters
  int64_t romaji_letters = 0;  // letters of words of >= 6 letters shaped like Hepburn romaji
  int64_t digits = 0;          // ASCII digits
  int64_t numbers = 0;         // maximal runs of ASCII digits
  int64_t spaces = 0;          // U+0020
  int64_t punct = 0;           // other ASCII: punctuation, symbols, line breaks, tabs, controls
  int64_t hiragana = 0;        // U+3041–U+309F
  int64_t katakana = 0;        // U+30A0–U+30FF, U+31F0–U+31FF, half-width U+FF66–U+FF9F
  int64_t kanji = 0;           // the rest of core::IsJapaneseCodepoint: ideographs, 々〆〻
  int64_t other = 0;           // every other code point (CJK punctuation, emoji, accented
                               // Latin, ...) and each byte of invalid UTF-8

  bool operator==(const ScriptCounts&) const = default;
};

// Counts `text` in one pass. Invalid UTF-8 is tolerated: each offending byte counts as `other`.
ScriptCounts CountScripts(std::string_view text);

// Tokens per counted unit, plus prompt framing. Default() holds the values fitted by
// scripts/calibrate-tokens.mjs (the same as config/token_calibration.yaml, which a test checks),
// so a gateway without the file estimates the same way.
struct TokenCalibration {
  double latin_word = 0;
  double latin_letter = 0;
  double romaji_letter = 0;
  double digit = 0;
  double number = 0;
  double space = 0;
  double punct = 0;
  double hiragana = 0;
  double katakana = 0;
  double kanji = 0;
  double other = 0;
  double per_message = 0;  // framing tokens around each message (role marker)
  double per_request = 0;  // framing tokens once per request (the assistant turn opener)
  // The factor already multiplied into the per-unit coefficients (>= 1): estimates aim this far
  // above the typical count. The online correction keeps it (see TokenEstimator::Observe).
  double headroom = 1.0;
  // Weight of one observation in the correction's moving average, in (0, 1].
  double correction_alpha = 0.05;
  std::string reference;  // provenance, e.g. "@anthropic-ai/tokenizer 0.0.4"

  static TokenCalibration Default();

  // The uncorrected, unrounded token estimate of text with these counts.
  double Linear(const ScriptCounts& counts) const;
};

// Loads a calibration written by scripts/calibrate-tokens.mjs. Errors: NotFound when the file
// cannot be opened; InvalidArgument (with file:line) for bad YAML, a missing or unknown
// per_unit key, a negative value, headroom < 1 or correction_alpha outside (0, 1].
absl::StatusOr<TokenCalibration> LoadTokenCalibration(const std::string& path);
absl::StatusOr<TokenCalibration> ParseTokenCalibration(const std::string& yaml,
                                                       const std::string& source);

class TokenEstimator {
 public:
  // Bounds of the online correction factor.
  static constexpr double kMinCorrection = 0.5;
  static constexpr double kMaxCorrection = 2.0;

  explicit TokenEstimator(TokenCalibration calibration = TokenCalibration::Default());

  TokenEstimator(const TokenEstimator&) = delete;
  TokenEstimator& operator=(const TokenEstimator&) = delete;

  // Tokens of `text` alone: ceil of the calibrated linear form, at least 1 for non-empty text,
  // 0 for empty text. The first form applies no correction; the second applies `lang`'s.
  int64_t Estimate(std::string_view text) const;
  int64_t Estimate(std::string_view text, core::Lang lang) const;

  // Input tokens of `request`: the system prompt, every message, per_message framing for each
  // message and per_request once, corrected for `lang` (the language of the conversation, as the
  // normalize stage detected it) and rounded up once. Stop sequences and max_tokens do not count.
  int64_t EstimatePrompt(const LlmRequest& request) const;
  int64_t EstimatePrompt(const LlmRequest& request, core::Lang lang) const;

  // Feeds back one request: `estimated` is what EstimatePrompt(request, lang) returned and
  // `reported` the provider's input usage for it (input + cache read + cache write tokens).
  // Each observation implies a factor  c * headroom * reported / estimated  (c: the factor now in
  // force for `lang`), i.e. the factor that would have put this estimate `headroom` above the
  // truth. That implied factor is clamped to [kMinCorrection, kMaxCorrection], so one odd request
  // moves the average by at most alpha * ln 2, and averaged exponentially in log space:
  //   ln c <- (1 - alpha) ln c + alpha ln implied.
  // Observations with estimated <= 0 or reported <= 0 are ignored. Lock-free (a CAS loop); under
  // contention an update may use a factor a few observations old, which only slows convergence.
  void Observe(core::Lang lang, int64_t estimated, int64_t reported);

  // The correction factor now applied to `lang` (1 until observations arrive).
  double correction(core::Lang lang) const;

  const TokenCalibration& calibration() const { return calibration_; }

 private:
  static int64_t Round(double tokens);
  double PromptLinear(const LlmRequest& request) const;

  const TokenCalibration calibration_;
  static_assert(std::atomic<double>::is_always_lock_free);
  std::array<std::atomic<double>, core::kLangCount> correction_;
};

}  // namespace mangaassist::llm
