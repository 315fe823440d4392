// Translation between Anthropic's Messages wire format (`POST /v1/messages`) and the
// provider-neutral LlmRequest / LlmResponse: request parsing and the rendering of messages,
// stream events and errors. Pure functions, no I/O; thread-safe (the parser is per thread).
//
// Only what every provider can honour is accepted: images, documents, tools, extended thinking,
// top_k and an assistant prefill (a conversation ending with an assistant turn) are refused
// with 400 naming the feature, rather than answered differently by an OpenAI-compatible
// backend. Consecutive messages of the same role are merged with "\n\n". Unknown fields are
// ignored.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "api/compat.h"
#include "core/pricing.h"
#include "llm/provider.h"

namespace mangaassist::api {

// Parses a Messages request. `max_tokens` is required, as in Anthropic's API. A `cache_control`
// on any system text block sets llm.cache_system. Errors are InvalidArgument with a message
// naming the field (OutOfRange when the body is too large to parse).
[[nodiscard]] absl::StatusOr<CompatRequest> ParseAnthropicMessagesRequest(std::string_view body,
                                                                          int max_depth);

// LlmResponse::finish_reason as Anthropic's stop_reason: "stop" → "end_turn", "length" →
// "max_tokens", "stop_sequence" → "stop_sequence", anything else → "end_turn". Idempotent
// (Anthropic names map to themselves).
std::string_view AnthropicStopReason(std::string_view finish_reason);

// A `message` object with one text block; stop_sequence is null (LlmResponse does not say which
// sequence matched). usage: input_tokens (uncached), output_tokens,
// cache_creation_input_tokens (cache_write), cache_read_input_tokens (cache_read).
std::string AnthropicMessageJson(std::string_view id, std::string_view model,
                                 const llm::LlmResponse& r);

// Stream events, each a complete SSE frame "event: X\ndata: {...}\n\n", in Anthropic's order:
// message_start, content_block_start, ping, content_block_delta…, content_block_stop,
// message_delta, message_stop. There is one text block, index 0.
std::string AnthropicStreamMessageStart(std::string_view id, std::string_view model,
                                        const core::TokenUsage& input_usage);
std::string AnthropicStreamContentBlockStart();
std::string AnthropicStreamPing();
std::string AnthropicStreamTextDelta(std::string_view text);
std::string AnthropicStreamContentBlockStop();
// `finish_reason` is LlmResponse::finish_reason; it is mapped by AnthropicStopReason.
// The usage is the provider-reported total: message_start can only carry an estimate (the
// gateway's header goes out before the provider's count arrives), and the SDKs take the
// input figures of message_delta over message_start's when both are present.
std::string AnthropicStreamMessageDelta(std::string_view finish_reason,
                                        const core::TokenUsage& usage);
std::string AnthropicStreamMessageStop();
// A failure after the stream started: `event: error` with the AnthropicErrorJson body.
std::string AnthropicStreamError(const absl::Status& status, std::string_view request_id);

// {"type": "error", "error": {"type", "message"}, "request_id"} with Anthropic's error types by
// HTTP status (core::HttpStatusFor): invalid_request_error (other 4xx), authentication_error
// (401), permission_error (403), not_found_error (404), request_too_large (413),
// rate_limit_error (429), overloaded_error (503), api_error (other 5xx).
std::string AnthropicErrorJson(const absl::Status& status, std::string_view request_id);

}  // namespace mangaassist::api
