#include "llm/anthropic/anthropic_events.h"

#include <simdjson.h>

#include <cstdint>
#include <utility>

#include "http/retry.h"
#include "nlohmann/json.hpp"

namespace mangaassist::llm::anthropic {

namespace {

using Json = nlohmann::json;

simdjson::dom::parser& ThreadParser() {
  // Used synchronously only: no parse result is held across a suspension point.
  thread_local simdjson::dom::parser parser;
  return parser;
}

// An integer field that may be absent or null.
int64_t IntOr(simdjson::dom::element object, const char* field, int64_t fallback) {
  int64_t value = 0;
  if (object[field].get(value) == simdjson::SUCCESS) return value;
  return fallback;
}

bool HasInt(simdjson::dom::element object, const char* field) {
  int64_t value = 0;
  return object[field].get(value) == simdjson::SUCCESS;
}

// Copies the usage fields present in `usage` into `out`; true when input_tokens was present.
bool ReadUsage(simdjson::dom::element usage, core::TokenUsage* out) {
  const bool has_input = HasInt(usage, "input_tokens");
  out->input_tokens = IntOr(usage, "input_tokens", out->input_tokens);
  out->output_tokens = IntOr(usage, "output_tokens", out->output_tokens);
  out->cache_write_tokens = IntOr(usage, "cache_creation_input_tokens", out->cache_write_tokens);
  out->cache_read_tokens = IntOr(usage, "cache_read_input_tokens", out->cache_read_tokens);
  return has_input;
}

std::string_view RoleName(Role role) { return role == Role::kAssistant ? "assistant" : "user"; }

}  // namespace

std::string BuildBody(const LlmRequest& request, const BodyOptions& options) {
  Json body = Json::object();
  if (!options.anthropic_version.empty()) body["anthropic_version"] = options.anthropic_version;
  if (options.include_model) body["model"] = request.model;
  body["max_tokens"] = request.max_tokens;
  if (!request.system.empty()) {
    Json block = {{"type", "text"}, {"text", request.system}};
    if (request.cache_system) block["cache_control"] = {{"type", "ephemeral"}};
    body["system"] = Json::array({std::move(block)});
  }
  Json messages = Json::array();
  for (const Message& message : request.messages) {
    messages.push_back({{"role", RoleName(message.role)}, {"content", message.content}});
  }
  body["messages"] = std::move(messages);
  if (request.temperature.has_value()) body["temperature"] = JsonNumber(*request.temperature);
  if (request.top_p.has_value()) body["top_p"] = JsonNumber(*request.top_p);
  if (!request.stop.empty()) body["stop_sequences"] = request.stop;
  if (options.stream) body["stream"] = true;
  // Invalid UTF-8 (the API layer validates input; this is a backstop) becomes U+FFFD rather
  // than an exception on the request path.
  return body.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string NormalizeStopReason(std::string_view stop_reason) {
  if (stop_reason == "max_tokens") return "length";
  if (stop_reason == "stop_sequence") return "stop_sequence";
  return "stop";
}

absl::StatusOr<LlmResponse> ParseMessage(std::string_view provider, std::string_view body) {
  simdjson::dom::element root;
  if (ThreadParser().parse(body.data(), body.size()).get(root) != simdjson::SUCCESS ||
      !root.is_object()) {
    return MalformedAnswer(provider, "the message is not JSON");
  }
  simdjson::dom::array content;
  if (root["content"].get(content) != simdjson::SUCCESS) {
    return MalformedAnswer(provider, "the message has no content array");
  }
  LlmResponse out;
  for (simdjson::dom::element block : content) {
    std::string_view type;
    std::string_view text;
    if (block["type"].get(type) == simdjson::SUCCESS && type == "text" &&
        block["text"].get(text) == simdjson::SUCCESS) {
      out.text.append(text);
    }
  }
  std::string_view stop_reason;
  if (root["stop_reason"].get(stop_reason) != simdjson::SUCCESS) stop_reason = "";
  out.finish_reason = NormalizeStopReason(stop_reason);
  simdjson::dom::element usage;
  if (root["usage"].get(usage) != simdjson::SUCCESS || !usage.is_object() ||
      !ReadUsage(usage, &out.usage)) {
    return MalformedAnswer(provider, "the message has no usage");
  }
  return out;
}

int HttpStatusOfErrorType(std::string_view type) {
  if (type == "invalid_request_error") return 400;
  if (type == "authentication_error") return 401;
  if (type == "billing_error") return 402;
  if (type == "permission_error") return 403;
  if (type == "not_found_error") return 404;
  if (type == "request_too_large") return 413;
  if (type == "rate_limit_error") return 429;
  if (type == "timeout_error") return 504;
  if (type == "overloaded_error") return 529;
  return 500;  // api_error and anything new
}

absl::Status ErrorStatus(std::string_view provider, int http_status,
                         const http::UpstreamHeaders& headers, std::string_view body,
                         absl::Time now) {
  const absl::Status base = http::StatusFromHttpResponse(http_status, headers, body, now);
  simdjson::dom::element root;
  std::string_view type;
  std::string_view message;
  if (ThreadParser().parse(body.data(), body.size()).get(root) != simdjson::SUCCESS ||
      root["error"]["type"].get(type) != simdjson::SUCCESS ||
      root["error"]["message"].get(message) != simdjson::SUCCESS) {
    return WithMessage(base, std::string(provider) + ": " + std::string(base.message()));
  }
  std::string text(provider);
  text += ": HTTP " + std::to_string(http_status) + " ";
  text.append(type);
  text += ": ";
  text.append(message);
  return WithMessage(base, std::move(text));
}

absl::Status EventHandler::OnEvent(std::string_view json, std::vector<std::string>* deltas) {
  simdjson::dom::element event;
  std::string_view type;
  if (ThreadParser().parse(json.data(), json.size()).get(event) != simdjson::SUCCESS ||
      event["type"].get(type) != simdjson::SUCCESS) {
    return MalformedAnswer(provider_, "a stream event is not JSON with a type");
  }
  if (type == "content_block_delta") {
    std::string_view delta_type;
    std::string_view text;
    if (event["delta"]["type"].get(delta_type) == simdjson::SUCCESS && delta_type == "text_delta" &&
        event["delta"]["text"].get(text) == simdjson::SUCCESS && !text.empty()) {
      deltas->emplace_back(text);
    }
    return absl::OkStatus();
  }
  if (type == "message_start") {
    simdjson::dom::element usage;
    if (event["message"]["usage"].get(usage) == simdjson::SUCCESS && usage.is_object()) {
      progress_.input_reported = ReadUsage(usage, &progress_.usage);
    }
    return absl::OkStatus();
  }
  if (type == "message_delta") {
    std::string_view stop_reason;
    if (event["delta"]["stop_reason"].get(stop_reason) == simdjson::SUCCESS) {
      progress_.finish_reason = NormalizeStopReason(stop_reason);
    }
    simdjson::dom::element usage;
    if (event["usage"].get(usage) == simdjson::SUCCESS && usage.is_object()) {
      // Cumulative counts: output at least, and the input side too in newer API versions.
      if (ReadUsage(usage, &progress_.usage)) progress_.input_reported = true;
      if (HasInt(usage, "output_tokens")) progress_.output_reported = true;
    }
    return absl::OkStatus();
  }
  if (type == "message_stop") {
    progress_.done = true;
    return absl::OkStatus();
  }
  if (type == "error") {
    std::string_view error_type;
    std::string_view message;
    if (event["error"]["type"].get(error_type) != simdjson::SUCCESS) error_type = "api_error";
    if (event["error"]["message"].get(message) != simdjson::SUCCESS) message = "";
    std::string text = provider_ + ": stream error ";
    text.append(error_type);
    if (!message.empty()) {
      text += ": ";
      text.append(message);
    }
    return InBandError(HttpStatusOfErrorType(error_type), std::move(text));
  }
  return absl::OkStatus();  // ping, content_block_start/stop, and events added later
}

absl::Status EventHandler::AtEnd() const {
  if (progress_.done || !progress_.finish_reason.empty()) return absl::OkStatus();
  return http::WithUpstreamFailure(
      absl::DataLossError(provider_ + ": the stream ended before message_stop"),
      http::UpstreamFailure::kTruncated);
}

}  // namespace mangaassist::llm::anthropic
