// The Anthropic Messages wire format, shared by the `anthropic` provider (api.anthropic.com)
// and the `bedrock` provider (Claude through InvokeModel, which carries the same JSON): the
// request body, the message answer, the error body and the streaming events. Pure functions
// and a per-stream EventHandler (a value, not thread-safe).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "http/upstream_client.h"
#include "llm/http_provider.h"
#include "llm/provider.h"

namespace mangaassist::llm::anthropic {

struct BodyOptions {
  // Messages API: the model and `"stream": true` are in the body. Bedrock: the model is in the
  // path, streaming is a separate endpoint, and the body names `anthropic_version` instead.
  bool include_model = true;
  bool stream = false;
  std::string anthropic_version;  // "" for the Messages API (it is a header there)
};

// The request body: `system` as one text block (with `cache_control: {type: ephemeral}` when
// request.cache_system), the messages, max_tokens, temperature, top_p, stop_sequences.
std::string BuildBody(const LlmRequest& request, const BodyOptions& options);

// Anthropic's stop_reason normalized: end_turn → "stop", max_tokens → "length",
// stop_sequence → "stop_sequence", anything else (tool_use, refusal, ...) → "stop".
std::string NormalizeStopReason(std::string_view stop_reason);

// A message answer: the concatenated text blocks, stop reason and usage (input,
// cache_creation_input → cache_write, cache_read_input → cache_read, output).
// MalformedAnswer() when the body is not a message.
absl::StatusOr<LlmResponse> ParseMessage(std::string_view provider, std::string_view body);

// The code table of http::StatusFromHttpResponse, with the message
// "<provider>: HTTP <status> <error.type>: <error.message>" from `{"type":"error","error":{..}}`
// (the quoted body when it is not that shape).
absl::Status ErrorStatus(std::string_view provider, int http_status,
                         const http::UpstreamHeaders& headers, std::string_view body,
                         absl::Time now);

// The HTTP status an error type stands for (overloaded_error → 529, rate_limit_error → 429, ...;
// unknown types → 500).
int HttpStatusOfErrorType(std::string_view type);

// Consumes the streaming events of one answer, each as its JSON (an SSE `data:` line, or the
// inner bytes of a Bedrock chunk): message_start (input-side usage), content_block_delta
// (text_delta), message_delta (stop reason, output usage), message_stop, error (→ the status of
// its type). Pings, block starts/stops and unknown events are ignored.
class EventHandler {
 public:
  explicit EventHandler(std::string provider) : provider_(std::move(provider)) {}

  [[nodiscard]] absl::Status OnEvent(std::string_view json, std::vector<std::string>* deltas);
  // OK once message_stop (or a stop reason) arrived, else DataLoss.
  [[nodiscard]] absl::Status AtEnd() const;
  const StreamProgress& progress() const { return progress_; }

 private:
  std::string provider_;
  StreamProgress progress_;
};

}  // namespace mangaassist::llm::anthropic
