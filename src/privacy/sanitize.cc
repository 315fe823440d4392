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
    // Placeholders are ASCII words: the text between them is read, they are not (each counts
    // as a token boundary). The redacted text is the normalized text with each span (sorted,
    // disjoint, normalized-text offsets) replaced by its placeholder.
    std::string_view text = redaction.text;
    core::LanguageSignals signals;
    size_t from = 0;      // in the redacted text
    ptrdiff_t shift = 0;  // redacted offset - normalized offset, before the current span
    for (const PiiSpan& span : redaction.spans) {
      const size_t at = static_cast<size_t>(static_cast<ptrdiff_t>(span.start) + shift);
      signals = core::ScanLanguage(text.substr(from, at - from), signals);
      const size_t placeholder = PiiPlaceholder(span.type).size();
      from = at + placeholder;
      shift += static_cast<ptrdiff_t>(placeholder) - static_cast<ptrdiff_t>(span.end - span.start);
    }
    signals = core::ScanLanguage(text.substr(from), signals);
    out.lang = core::LangOf(signals);
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
