// Traces (SPEC §6): JSONL, one user message per line —
//   {"ts":"2026-11-01T09:00:00.123Z","session_id":"…","user_id":"…","tier":"guest|member|premium",
//    "message":"…"}
// with optional ground truth "intent", "lang" (en|ja|mixed), "canonical_id" and
// "output_tokens". Unknown fields are ignored. TraceReader streams a file (or stdin) line by line
// and never holds more than one line; AppendTraceLine writes the same format (keys in the order
// above, through nlohmann's serializer). A TraceReader is not thread-safe.
#pragma once

#include <cstdint>
#include <istream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/language.h"
#include "core/request_context.h"

namespace mangaassist::replay {

struct TraceRecord {
  int64_t ts_ms = 0;  // unix milliseconds (UTC)
  std::string session_id;
  std::string user_id;
  core::Tier tier = core::Tier::kGuest;
  std::string message;
  // Ground truth; empty / nullopt when the line has none.
  std::string intent;
  std::optional<core::Lang> lang;
  std::string canonical_id;
  std::optional<int64_t> output_tokens;
};

// "2026-11-01T09:00:00.123Z": UTC, always three fractional digits.
std::string FormatTraceTime(int64_t ts_ms);

// Appends `r` as one JSON line (with the trailing '\n') to `out`.
void AppendTraceLine(const TraceRecord& r, std::string* out);

class TraceParser {
 public:
  TraceParser();
  ~TraceParser();
  // Parses one line (no trailing newline). InvalidArgument naming the problem: malformed JSON,
  // not an object, a missing or mistyped required field, a bad timestamp, tier or lang, a
  // negative or huge output_tokens.
  absl::StatusOr<TraceRecord> Parse(std::string_view line);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Streams records from `in`. Blank lines are skipped silently; a bad line is returned as an
// error carrying its 1-based line number, and reading continues with the next line.
class TraceReader {
 public:
  explicit TraceReader(std::istream* in);

  enum class Result { kRecord, kBadLine, kEnd };
  // kRecord: *record is the next line's. kBadLine: *error says why ("line 12: ..."). kEnd.
  Result Next(TraceRecord* record, std::string* error);

  int64_t line_number() const { return line_; }  // of the last line read
  int64_t bytes_read() const { return bytes_; }

 private:
  std::istream* in_;
  std::string line_buf_;
  int64_t line_ = 0;
  int64_t bytes_ = 0;
  TraceParser parser_;
};

}  // namespace mangaassist::replay
