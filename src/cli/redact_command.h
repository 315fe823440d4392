// `mangaassist redact [--jsonl]`: runs the gateway's boundary transformation (normalize +
// redact, privacy::Sanitize) on messages from stdin, for audits and for measuring redaction on
// a labelled set. Stateless; one call processes one stream.
#pragma once

#include <iosfwd>

namespace mangaassist::cli {

// jsonl = true: each input line is a JSON object with a string field "text"; each output line
//   is {"text": "<normalized, redacted>", "spans": [{"type", "value", "start", "end"}]}, where
//   value is the original substring and start/end are byte offsets into the original text.
//   A line that is not such an object (or whose text is not valid UTF-8) yields
//   {"error": "<why>", "line": N} and processing continues. Blank lines are skipped.
// jsonl = false: each input line is one message (a trailing CR is dropped); each output line is
//   its normalized, redacted form. Invalid UTF-8 bytes become U+FFFD, so lines stay aligned.
// Returns 0 when every line was processed, 1 when at least one line was bad.
int RunRedactCommand(bool jsonl, std::istream& in, std::ostream& out);

}  // namespace mangaassist::cli
