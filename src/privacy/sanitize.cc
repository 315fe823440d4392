#include "privacy/sanitize.h"

#include <utility>

namespace mangaassist::privacy {
namespace {

// Text without kana or kanji is `en` by the language rule (core/language.h), so pure ASCII needs
// no code point scan.
core::Lang Language(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return core::DetectLanguage(text);
  }
  return core::Lang::kEn;
}

}  // namespace

absl::StatusOr<Sanitized> Sanitize(std::string_view input, const SanitizeOptions& options,
                                   const Redactor& redactor) {
  core::NormalizeOptions nopts = options.normalize;
  nopts.record_offsets = options.original_offsets;
  absl::StatusOr<core::NormalizedText> normalized = core::Normalize(input, nopts);
  if (!normalized.ok()) return normalized.status();

  Sanitized out;
  out.truncated = normalized->truncated;
  // The language is detected before redaction, with the PII blanked out.
  Redaction redaction;
  if (options.original_offsets) {
    redaction = redactor.Redact(normalized->text);
  } else {
    redaction = redactor.RedactOwned(std::move(normalized->text));
  }
  out.counts = redaction.counts;
  if (redaction.spans.empty()) {
    out.lang = Language(redaction.text);
  } else {
    std::string masked = redaction.text;
    // Placeholders are ASCII words: blank them so they do not count as English.
    for (size_t p = masked.find('['); p != std::string::npos; p = masked.find('[', p + 1)) {
      size_t q = masked.find(']', p);
      if (q == std::string::npos) break;
      std::string_view inner(masked.data() + p + 1, q - p - 1);
      for (size_t t = 0; t < kPiiTypeCount; ++t) {
        std::string_view ph = PiiPlaceholder(static_cast<PiiType>(t));
        if (inner == ph.substr(1, ph.size() - 2)) {
          masked.replace(p, q - p + 1, q - p + 1, ' ');
          break;
        }
      }
    }
    out.lang = Language(masked);
  }
  out.spans = std::move(redaction.spans);
  if (options.original_offsets) {
    for (PiiSpan& s : out.spans) {
      auto [b, e] = normalized->offsets.MapRange(s.start, s.end);
      s.start = b;
      s.end = e;
    }
  }
  out.text = std::move(redaction.text);
  return out;
}

}  // namespace mangaassist::privacy
