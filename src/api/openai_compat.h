// Translation between OpenAI's Chat Completions wire format (`POST /v1/chat/completions`,
// `GET /v1/models`) and the provider-neutral LlmRequest / LlmResponse: request parsing and the
// rendering of answers, stream chunks and errors. Pure functions, no I/O; thread-safe (the
// parser is per thread).
//
// Only what every provider can honour is accepted. A request that uses a feature we cannot
// translate faithfully to Anthropic-style and OpenAI-compatible backends alike (tools, images,
// audio, logprobs, n > 1, JSON mode, penalties, seed, a system message mid-conversation) is
// refused with 400 naming the field, rather than silently answered differently. Consecutive
// messages of the same role are merged with "\n\n" (Anthropic requires alternation); a
// message's `name` is dropped. Unknown fields are ignored.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "api/compat.h"
#include "core/pricing.h"
#include "llm/provider.h"

namespace mangaassist::api {

// Parses a Chat Completions request. `max_tokens` / `max_completion_tokens` default to
// `default_max_tokens` when both are absent. Errors are InvalidArgument with a message naming
// the field (OutOfRange when the body is too large to parse).
[[nodiscard]] absl::StatusOr<CompatRequest> ParseOpenAiChatRequest(std::string_view body,
                                                                   int max_depth,
                                                                   int default_max_tokens);

// LlmResponse::finish_reason ("stop", "length", "stop_sequence", "error") as OpenAI's
// finish_reason: "length" stays, everything else is "stop".
std::string_view OpenAiFinishReason(std::string_view finish_reason);

// A `chat.completion` object. usage.prompt_tokens counts cached tokens too (OpenAI's
// convention): input + cache_read + cache_write; prompt_tokens_details.cached_tokens is
// cache_read.
std::string OpenAiChatResponseJson(std::string_view id, std::string_view model,
                                   int64_t created_unix, const llm::LlmResponse& r);

// Stream frames (`chat.completion.chunk`), each a complete SSE event "data: {...}\n\n":
// the role chunk first, then one delta chunk per text delta, then the finish chunk, then the
// usage chunk (only when the client asked for stream_options.include_usage), then Done.
std::string OpenAiStreamRoleChunk(std::string_view id, std::string_view model, int64_t created);
std::string OpenAiStreamDeltaChunk(std::string_view id, std::string_view model, int64_t created,
                                   std::string_view text);
// `finish_reason` is LlmResponse::finish_reason; it is mapped by OpenAiFinishReason.
std::string OpenAiStreamFinishChunk(std::string_view id, std::string_view model, int64_t created,
                                    std::string_view finish_reason);
std::string OpenAiStreamUsageChunk(std::string_view id, std::string_view model, int64_t created,
                                   const core::TokenUsage& usage);
std::string OpenAiStreamDone();  // "data: [DONE]\n\n"
// A failure after the stream started (the HTTP status is already sent): the error body of
// OpenAiErrorJson as a data event. The caller ends the stream after it, without [DONE].
std::string OpenAiStreamError(const absl::Status& status, std::string_view request_id);

// `GET /v1/models`: {object: "list", data: [{id, object: "model", created, owned_by}]}.
std::string OpenAiModelsJson(const std::vector<std::string>& model_names, int64_t created_unix);

// OpenAI's error shape plus our request_id:
// {"error": {"message", "type", "code", "param": null, "request_id"}}. `type` is OpenAI's
// coarse class of the HTTP status (core::HttpStatusFor): invalid_request_error (other 4xx),
// authentication_error (401), permission_error (403), not_found_error (404),
// rate_limit_error (429), api_error (5xx). `code` is our finer error type
// (core::ErrorTypeFor, e.g. "request_too_large", "overloaded_error"), a string as OpenAI's is.
std::string OpenAiErrorJson(const absl::Status& status, std::string_view request_id);

}  // namespace mangaassist::api
