// The boundary transformation of untrusted text (SPEC §2, stage 2): normalize (core/normalize.h),
// detect the language, redact PII (privacy/redactor.h). The `normalize` pipeline stage and
// `mangaassist redact` both call Sanitize(), so the server and the audit tool agree.
// Pure function over an immutable Redactor; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/language.h"
#include "core/normalize.h"
#include "privacy/redactor.h"

namespace mangaassist::privacy {

struct SanitizeOptions {
  core::NormalizeOptions normalize;  // its record_offsets is ignored; see original_offsets
  // Report spans as byte offsets into the original input (records an offset map while
  // normalizing). Otherwise spans are offsets into the normalized text.
  bool original_offsets = false;
};

struct Sanitized {
  std::string text;            // normalized, then redacted
  std::vector<PiiSpan> spans;  // sorted and disjoint; see SanitizeOptions::original_offsets
  PiiCounts counts{};
  core::Lang lang = core::Lang::kEn;
  bool truncated = false;  // the input was cut to normalize.max_chars
};

// Errors are those of core::Normalize: InvalidArgument (invalid UTF-8), OutOfRange (too long).
// The language is detected on the normalized text with the PII blanked out, so an e-mail
// address or a placeholder does not make a Japanese message "mixed".
absl::StatusOr<Sanitized> Sanitize(std::string_view input, const SanitizeOptions& options,
                                   const Redactor& redactor);

}  // namespace mangaassist::privacy
