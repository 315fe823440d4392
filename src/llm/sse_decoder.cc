#include "llm/sse_decoder.h"

#include <utility>

namespace mangaassist::llm {

absl::Status SseDecoder::Feed(std::string_view bytes, std::vector<SseMessage>* out) {
  if (!error_.ok()) return error_;
  size_t start = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    const char c = bytes[i];
    if (c != '\n' && c != '\r') continue;
    if (skip_lf_ && c == '\n' && i == start && line_.empty()) {
      // The '\n' of a "\r\n" pair split across (or within) chunks.
      skip_lf_ = false;
      start = i + 1;
      continue;
    }
    line_.append(bytes.substr(start, i - start));
    if (line_.size() > max_line_bytes_) break;
    ProcessLine(line_, out);
    line_.clear();
    skip_lf_ = c == '\r';
    start = i + 1;
  }
  if (line_.size() <= max_line_bytes_) {
    if (start < bytes.size()) {
      line_.append(bytes.substr(start));
      skip_lf_ = false;
    }
  }
  if (line_.size() > max_line_bytes_) {
    error_ = absl::DataLossError("event-stream line longer than " +
                                 std::to_string(max_line_bytes_) + " bytes");
  }
  return error_;
}

bool SseDecoder::HasPartialEvent() const { return has_fields_ || !line_.empty(); }

void SseDecoder::ProcessLine(std::string_view line, std::vector<SseMessage>* out) {
  if (line.empty()) {
    if (has_data_) out->push_back(std::move(pending_));
    pending_ = SseMessage{};
    has_data_ = false;
    has_fields_ = false;
    return;
  }
  has_fields_ = true;
  if (line.front() == ':') return;  // a comment (keep-alive)
  const size_t colon = line.find(':');
  const std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) pending_.data += '\n';
    pending_.data.append(value);
    has_data_ = true;
  } else if (field == "event") {
    pending_.event.assign(value);
  }
}

}  // namespace mangaassist::llm
