#include "api/anthropic_compat.h"

#include <climits>

#include "absl/strings/str_cat.h"
#include "api/compat_json.h"
#include "core/status.h"
#include "core/strings.h"

namespace mangaassist::api {
namespace {

using core::ToAbsl;
using internal::AppendJsonString;
using internal::AsArray;
using internal::AsBool;
using internal::AsInt;
using internal::AsNumber;
using internal::AsObject;
using internal::AsString;
using internal::Field;
using internal::Untranslatable;

std::string_view DescribeAnthropicBlock(std::string_view type) {
  if (type == "image") return "image input";
  if (type == "document" || type == "container_upload") return "document input";
  if (type == "tool_use" || type == "server_tool_use") return "tool use";
  if (type == "tool_result" || type == "web_search_tool_result") return "tool results";
  if (type == "thinking" || type == "redacted_thinking") return "extended thinking";
  if (type == "search_result") return "search results";
  return "";
}

absl::Status RejectUntranslatable(simdjson::dom::object obj) {
  if (auto el = Field(obj, "tools")) {
    auto tools = AsArray(*el, "tools");
    if (!tools.ok()) return tools.status();
    if (tools->size() != 0) return Untranslatable("'tools' (tool use)");
  }
  if (auto el = Field(obj, "tool_choice")) {
    // {"type": "none"} asks for what we do anyway; every other choice needs tools.
    auto choice = AsObject(*el, "tool_choice");
    if (!choice.ok()) return choice.status();
    std::string_view type;
    if (auto type_el = Field(*choice, "type"); type_el && type_el->get(type) != simdjson::SUCCESS) {
      type = "";
    }
    if (type != "none") return Untranslatable("'tool_choice' other than {\"type\": \"none\"}");
  }
  if (auto el = Field(obj, "thinking")) {
    auto thinking = AsObject(*el, "thinking");
    if (!thinking.ok()) return thinking.status();
    std::string_view type;
    if (auto type_el = Field(*thinking, "type");
        type_el && type_el->get(type) != simdjson::SUCCESS) {
      type = "";
    }
    if (type != "disabled") return Untranslatable("'thinking' (extended thinking)");
  }
  // OpenAI-compatible backends have no top_k in the OpenAI API (some accept it as an
  // extension, most ignore it), so it would silently change meaning on half the routes.
  if (Field(obj, "top_k")) return Untranslatable("'top_k'");
  return absl::OkStatus();
}

absl::Status ReadSystem(simdjson::dom::object obj, llm::LlmRequest* llm) {
  auto el = Field(obj, "system");
  if (!el) return absl::OkStatus();
  return internal::ReadTextContent(*el, "system", DescribeAnthropicBlock, &llm->system,
                                   &llm->cache_system);
}

absl::Status ReadMessages(simdjson::dom::object obj, llm::LlmRequest* llm) {
  auto messages_el = Field(obj, "messages");
  if (!messages_el) return absl::InvalidArgumentError("'messages' is required");
  auto messages = AsArray(*messages_el, "messages");
  if (!messages.ok()) return messages.status();
  if (messages->size() == 0) return absl::InvalidArgumentError("'messages' must not be empty");

  size_t index = 0;
  std::string text;
  for (simdjson::dom::element message_el : *messages) {
    const std::string where = absl::StrCat("messages[", index++, "]");
    auto message = AsObject(message_el, where);
    if (!message.ok()) return message.status();
    auto role_el = Field(*message, "role");
    if (!role_el) return absl::InvalidArgumentError(absl::StrCat("'", where, ".role' is required"));
    auto role = AsString(*role_el, where + ".role");
    if (!role.ok()) return role.status();
    if (*role != "user" && *role != "assistant") {
      return absl::InvalidArgumentError(
          absl::StrCat("'", where, ".role' must be user or assistant (the system prompt is the ",
                       "top-level 'system'); got '", ToAbsl(*role), "'"));
    }
    auto content_el = Field(*message, "content");
    if (!content_el) {
      return absl::InvalidArgumentError(absl::StrCat("'", where, ".content' is required"));
    }
    text.clear();
    // A cache_control on a message's text block is accepted and ignored: LlmRequest can only
    // mark the system prompt for caching, and a cache breakpoint never changes the answer.
    if (auto s = internal::ReadTextContent(*content_el, where + ".content", DescribeAnthropicBlock,
                                           &text, nullptr);
        !s.ok()) {
      return s;
    }
    internal::AppendTurn(&llm->messages, *role == "user" ? llm::Role::kUser : llm::Role::kAssistant,
                         text);
  }
  if (llm->messages.front().role != llm::Role::kUser) {
    return absl::InvalidArgumentError("'messages': the first message must be from the user");
  }
  if (llm->messages.back().role != llm::Role::kUser) {
    // Providers without prefill would answer the conversation instead of continuing the
    // assistant's text.
    return Untranslatable(
        "an assistant prefill ('messages' ending with an assistant message; the conversation "
        "must end with a user message)");
  }
  return absl::OkStatus();
}

absl::Status ReadSampling(simdjson::dom::object obj, llm::LlmRequest* llm) {
  if (auto el = Field(obj, "temperature")) {
    auto t = AsNumber(*el, "temperature");
    if (!t.ok()) return t.status();
    if (!(*t >= 0 && *t <= 1)) {
      return absl::InvalidArgumentError("'temperature' must be between 0 and 1");
    }
    llm->temperature = static_cast<float>(*t);
  }
  if (auto el = Field(obj, "top_p")) {
    // 0 is excluded as in the OpenAI endpoint: OpenAI-compatible servers (vLLM) reject it.
    auto p = AsNumber(*el, "top_p");
    if (!p.ok()) return p.status();
    if (!(*p > 0 && *p <= 1)) {
      return absl::InvalidArgumentError("'top_p' must be greater than 0 and at most 1");
    }
    llm->top_p = static_cast<float>(*p);
  }
  if (auto el = Field(obj, "stop_sequences")) {
    auto stops = AsArray(*el, "stop_sequences");
    if (!stops.ok()) return stops.status();
    size_t index = 0;
    for (simdjson::dom::element s_el : *stops) {
      auto s = AsString(s_el, absl::StrCat("stop_sequences[", index++, "]"));
      if (!s.ok()) return s.status();
      llm->stop.emplace_back(*s);
    }
  }
  return absl::OkStatus();
}

std::string_view AnthropicErrorType(absl::StatusCode code) {
  const int http = core::HttpStatusFor(code);
  switch (http) {
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 503:
      return "overloaded_error";
    default:
      return http >= 400 && http < 500 ? "invalid_request_error" : "api_error";
  }
}

void AppendUsage(std::string* out, const core::TokenUsage& u) {
  absl::StrAppend(out, "{\"input_tokens\":", u.input_tokens, ",\"output_tokens\":", u.output_tokens,
                  ",\"cache_creation_input_tokens\":", u.cache_write_tokens,
                  ",\"cache_read_input_tokens\":", u.cache_read_tokens, "}");
}

// `"id":…,"type":"message","role":"assistant","model":…,"content":` — shared by the message
// and message_start.
void AppendMessageHead(std::string* out, std::string_view id, std::string_view model) {
  out->append("\"id\":");
  AppendJsonString(out, id);
  out->append(",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
  AppendJsonString(out, model);
  out->append(",\"content\":");
}

}  // namespace

absl::StatusOr<CompatRequest> ParseAnthropicMessagesRequest(std::string_view body, int max_depth) {
  auto root = internal::ParseJsonObject(body, max_depth);
  if (!root.ok()) return root.status();
  const simdjson::dom::object obj = *root;
  CompatRequest out;

  auto model_el = Field(obj, "model");
  if (!model_el) return absl::InvalidArgumentError("'model' is required");
  auto model = AsString(*model_el, "model");
  if (!model.ok()) return model.status();
  if (model->empty()) return absl::InvalidArgumentError("'model' must not be empty");
  out.model = std::string(*model);

  auto max_tokens_el = Field(obj, "max_tokens");
  if (!max_tokens_el) return absl::InvalidArgumentError("'max_tokens' is required");
  auto max_tokens = AsInt(*max_tokens_el, "max_tokens");
  if (!max_tokens.ok()) return max_tokens.status();
  if (*max_tokens < 1 || *max_tokens > INT_MAX) {
    return absl::InvalidArgumentError(absl::StrCat("'max_tokens' must be between 1 and ", INT_MAX));
  }
  out.llm.max_tokens = static_cast<int>(*max_tokens);

  if (auto s = RejectUntranslatable(obj); !s.ok()) return s;
  if (auto s = ReadSystem(obj, &out.llm); !s.ok()) return s;
  if (auto s = ReadMessages(obj, &out.llm); !s.ok()) return s;
  if (auto s = ReadSampling(obj, &out.llm); !s.ok()) return s;

  if (auto el = Field(obj, "stream")) {
    auto stream = AsBool(*el, "stream");
    if (!stream.ok()) return stream.status();
    out.stream = *stream;
  }
  if (auto el = Field(obj, "metadata")) {
    auto metadata = AsObject(*el, "metadata");
    if (!metadata.ok()) return metadata.status();
    if (auto user_el = Field(*metadata, "user_id")) {
      auto user = AsString(*user_el, "metadata.user_id");
      if (!user.ok()) return user.status();
      out.user = std::string(*user);
    }
  }
  return out;
}

std::string_view AnthropicStopReason(std::string_view finish_reason) {
  if (finish_reason == "length" || finish_reason == "max_tokens") return "max_tokens";
  if (finish_reason == "stop_sequence") return "stop_sequence";
  return "end_turn";
}

std::string AnthropicMessageJson(std::string_view id, std::string_view model,
                                 const llm::LlmResponse& r) {
  std::string out;
  out.reserve(320 + id.size() + model.size() + r.text.size() + r.text.size() / 8);
  out.push_back('{');
  AppendMessageHead(&out, id, model);
  out.append("[{\"type\":\"text\",\"text\":");
  AppendJsonString(&out, r.text);
  out.append("}],\"stop_reason\":\"");
  out.append(AnthropicStopReason(r.finish_reason));
  out.append("\",\"stop_sequence\":null,\"usage\":");
  AppendUsage(&out, r.usage);
  out.push_back('}');
  return out;
}

std::string AnthropicStreamMessageStart(std::string_view id, std::string_view model,
                                        const core::TokenUsage& input_usage) {
  std::string out;
  out.reserve(320 + id.size() + model.size());
  out.append("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{");
  AppendMessageHead(&out, id, model);
  out.append("[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":");
  AppendUsage(&out, input_usage);
  out.append("}}\n\n");
  return out;
}

std::string AnthropicStreamContentBlockStart() {
  return "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
         "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n";
}

std::string AnthropicStreamPing() { return "event: ping\ndata: {\"type\":\"ping\"}\n\n"; }

std::string AnthropicStreamTextDelta(std::string_view text) {
  std::string out;
  out.reserve(128 + text.size() + text.size() / 8);
  out.append(
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
      "\"delta\":{\"type\":\"text_delta\",\"text\":");
  AppendJsonString(&out, text);
  out.append("}}\n\n");
  return out;
}

std::string AnthropicStreamContentBlockStop() {
  return "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n";
}

std::string AnthropicStreamMessageDelta(std::string_view finish_reason,
                                        const core::TokenUsage& usage) {
  return absl::StrCat(
      "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"",
      ToAbsl(AnthropicStopReason(finish_reason)),
      "\",\"stop_sequence\":null},\"usage\":{\"input_tokens\":", usage.input_tokens,
      ",\"cache_creation_input_tokens\":", usage.cache_write_tokens,
      ",\"cache_read_input_tokens\":", usage.cache_read_tokens,
      ",\"output_tokens\":", usage.output_tokens, "}}\n\n");
}

std::string AnthropicStreamMessageStop() {
  return "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
}

std::string AnthropicStreamError(const absl::Status& status, std::string_view request_id) {
  return absl::StrCat("event: error\ndata: ", AnthropicErrorJson(status, request_id), "\n\n");
}

std::string AnthropicErrorJson(const absl::Status& status, std::string_view request_id) {
  std::string out;
  out.reserve(128 + status.message().size() + request_id.size());
  out.append("{\"type\":\"error\",\"error\":{\"type\":\"");
  out.append(AnthropicErrorType(status.code()));
  out.append("\",\"message\":");
  AppendJsonString(&out, core::ToStd(status.message()));
  out.append("},\"request_id\":");
  AppendJsonString(&out, request_id);
  out.push_back('}');
  return out;
}

}  // namespace mangaassist::api
