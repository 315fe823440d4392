// SseDecoder: an incremental parser of `text/event-stream` bodies (the WHATWG event-stream
// grammar) for provider streams: bytes may arrive split anywhere; complete events come out in
// order. A value owned by one stream; not thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace mangaassist::llm {

struct SseMessage {
  std::string event;  // the `event:` field; "" when absent (OpenAI)
  std::string data;   // `data:` lines joined with '\n'
};

class SseDecoder {
 public:
  // A line longer than this is refused (DataLoss), so a misbehaving upstream cannot grow the
  // buffer without bound.
  static constexpr size_t kDefaultMaxLineBytes = 4 << 20;

  explicit SseDecoder(size_t max_line_bytes = kDefaultMaxLineBytes)
      : max_line_bytes_(max_line_bytes) {}

  // Appends the events completed by `bytes` (dispatched at a blank line; comments, `id:`,
  // `retry:` and events without data are dropped). DataLoss for an oversized line; sticky.
  [[nodiscard]] absl::Status Feed(std::string_view bytes, std::vector<SseMessage>* out);

  // True when bytes of an undispatched event (or an unterminated line) are pending.
  bool HasPartialEvent() const;

 private:
  void ProcessLine(std::string_view line, std::vector<SseMessage>* out);

  size_t max_line_bytes_;
  std::string line_;         // the current, unterminated line
  bool skip_lf_ = false;     // the previous line ended with '\r': a following '\n' is its pair
  SseMessage pending_;       // fields of the event being built
  bool has_data_ = false;    // pending_ received at least one `data:` line
  bool has_fields_ = false;  // pending_ received any line
  absl::Status error_;
};

}  // namespace mangaassist::llm
