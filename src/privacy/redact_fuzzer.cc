// libFuzzer target for the boundary (issue 3): core::Normalize (strict and lossy) followed by
// privacy::Redactor, the way the `normalize` stage and `mangaassist redact` run them. Built with
// clang outside the main build by scripts/run-fuzz.sh (ctest: redact_fuzz). Besides crashes and
// sanitizer reports it aborts on a broken invariant: output not valid UTF-8, spans not sorted,
// disjoint and inside the input, or redaction not idempotent.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/normalize.h"
#include "privacy/redactor.h"
#include "privacy/sanitize.h"

namespace {

using mangaassist::core::DecodeUtf8;
using mangaassist::core::InvalidUtf8;
using mangaassist::privacy::PiiSpan;
using mangaassist::privacy::Redaction;
using mangaassist::privacy::Redactor;
using mangaassist::privacy::Sanitize;
using mangaassist::privacy::SanitizeOptions;

bool ValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0;
  while (i < s.size()) {
    char32_t cp;
    int n = DecodeUtf8(p + i, s.size() - i, &cp);
    if (n == 0) return false;
    i += static_cast<size_t>(n);
  }
  return true;
}

void Require(bool ok, const char* what, std::string_view input) {
  if (ok) return;
  std::fprintf(stderr, "invariant broken: %s (input of %zu bytes)\n", what, input.size());
  std::abort();
}

void CheckSpans(const std::vector<PiiSpan>& spans, size_t limit, std::string_view input) {
  size_t last = 0;
  for (const PiiSpan& s : spans) {
    Require(last <= s.start && s.start < s.end && s.end <= limit, "spans sorted and in bounds",
            input);
    last = s.end;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const Redactor& redactor = Redactor::Default();
  for (InvalidUtf8 mode : {InvalidUtf8::kReject, InvalidUtf8::kReplace}) {
    SanitizeOptions opts;
    opts.original_offsets = true;
    opts.normalize.invalid_utf8 = mode;
    auto r = Sanitize(input, opts, redactor);
    if (!r.ok()) {
      Require(mode == InvalidUtf8::kReject && !ValidUtf8(input), "only invalid UTF-8 fails", input);
      continue;
    }
    Require(ValidUtf8(r->text), "output is valid UTF-8", input);
    CheckSpans(r->spans, input.size(), input);
    Redaction again = redactor.Redact(r->text);
    Require(again.text == r->text && again.spans.empty(), "redaction is idempotent", input);
  }
  // The redactor alone, on raw bytes that may not be UTF-8 at all: no crash, sane spans.
  Redaction raw = redactor.Redact(input);
  CheckSpans(raw.spans, input.size(), input);
  if (ValidUtf8(input)) Require(ValidUtf8(raw.text), "redacting valid UTF-8 keeps it valid", input);
  return 0;
}
