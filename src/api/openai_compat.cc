#include "api/openai_compat.h"

#include <algorithm>
#include <climits>
#include <iterator>
#include <optional>
#include <utility>

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

std::string_view DescribeOpenAiPart(std::string_view type) {
  if (type == "image_url") return "image input";
  if (type == "input_audio") return "audio input";
  if (type == "file") return "file input";
  if (type == "refusal") return "a refusal";
  return "";
}

// A feature whose mere presence (non-null) changes the answer in a way we cannot reproduce.
absl::Status RejectIfPresent(simdjson::dom::object obj, std::string_view key,
                             std::string_view what) {
  if (Field(obj, key).has_value()) return Untranslatable(what);
  return absl::OkStatus();
}

// Whether every top-level key is one ParseOpenAiChatRequest reads itself: then none of the
// fields below is present and their two dozen lookups can be skipped (most requests). Any
// other key, known or not, takes the full check.
bool OnlyPlainKeys(simdjson::dom::object obj) {
  static constexpr std::string_view kPlain[] = {
      "model",       "messages", "max_tokens", "max_completion_tokens", "temperature",
      "top_p",       "stop",     "stream",     "stream_options",        "user"};
  for (const simdjson::dom::key_value_pair field : obj) {
    if (std::find(std::begin(kPlain), std::end(kPlain), field.key) == std::end(kPlain)) {
      return false;
    }
  }
  return true;
}

// Everything that is accepted only in its neutral form (absent, empty, "none", 0, false, 1).
absl::Status RejectUntranslatable(simdjson::dom::object obj) {
  if (OnlyPlainKeys(obj)) return absl::OkStatus();
  for (std::string_view key : {"tools", "functions"}) {
    if (auto el = Field(obj, key)) {
      auto arr = AsArray(*el, key);
      if (!arr.ok()) return arr.status();
      if (arr->size() != 0) {
        return Untranslatable(absl::StrCat("'", ToAbsl(key), "' (tool calling)"));
      }
    }
  }
  for (std::string_view key : {"tool_choice", "function_call"}) {
    if (auto el = Field(obj, key)) {
      std::string_view choice;
      if (el->get(choice) != simdjson::SUCCESS || choice != "none") {
        return Untranslatable(absl::StrCat("'", ToAbsl(key), "' other than \"none\""));
      }
    }
  }
  if (auto el = Field(obj, "n")) {
    auto n = AsInt(*el, "n");
    if (!n.ok()) return n.status();
    if (*n < 1) return absl::InvalidArgumentError("'n' must be at least 1");
    if (*n > 1) return Untranslatable("'n' greater than 1 (several choices)");
  }
  if (auto el = Field(obj, "logprobs")) {
    auto logprobs = AsBool(*el, "logprobs");
    if (!logprobs.ok()) return logprobs.status();
    if (*logprobs) return Untranslatable("'logprobs'");
  }
  if (auto s = RejectIfPresent(obj, "top_logprobs", "'top_logprobs'"); !s.ok()) return s;
  if (auto el = Field(obj, "logit_bias")) {
    auto bias = AsObject(*el, "logit_bias");
    if (!bias.ok()) return bias.status();
    if (bias->size() != 0) return Untranslatable("'logit_bias'");
  }
  if (auto el = Field(obj, "response_format")) {
    auto format = AsObject(*el, "response_format");
    if (!format.ok()) return format.status();
    std::string_view type;
    if (auto type_el = Field(*format, "type")) {
      auto t = AsString(*type_el, "response_format.type");
      if (!t.ok()) return t.status();
      type = *t;
    }
    if (type != "text") {
      return Untranslatable(
          absl::StrCat("'response_format' of type '", ToAbsl(type), "' (structured output)"));
    }
  }
  if (auto s = RejectIfPresent(obj, "audio", "'audio' (audio output)"); !s.ok()) return s;
  if (auto el = Field(obj, "modalities")) {
    auto modalities = AsArray(*el, "modalities");
    if (!modalities.ok()) return modalities.status();
    for (simdjson::dom::element m : *modalities) {
      std::string_view modality;
      if (m.get(modality) != simdjson::SUCCESS || modality != "text") {
        return Untranslatable("'modalities' other than [\"text\"]");
      }
    }
  }
  for (std::string_view key : {"presence_penalty", "frequency_penalty"}) {
    if (auto el = Field(obj, key)) {
      auto penalty = AsNumber(*el, key);
      if (!penalty.ok()) return penalty.status();
      if (*penalty != 0) return Untranslatable(absl::StrCat("'", ToAbsl(key), "' other than 0"));
    }
  }
  return RejectIfPresent(obj, "seed", "'seed'");
}

absl::Status ReadMessages(simdjson::dom::object obj, llm::LlmRequest* llm) {
  auto messages_el = Field(obj, "messages");
  if (!messages_el) return absl::InvalidArgumentError("'messages' is required");
  auto messages = AsArray(*messages_el, "messages");
  if (!messages.ok()) return messages.status();
  if (messages->size() == 0) return absl::InvalidArgumentError("'messages' must not be empty");

  bool conversation_started = false;
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

    const bool is_system = *role == "system" || *role == "developer";
    if (*role == "tool" || *role == "function") {
      return Untranslatable(
          absl::StrCat("'", where, ".role' \"", ToAbsl(*role), "\" (tool results)"));
    }
    if (!is_system && *role != "user" && *role != "assistant") {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", where, ".role' must be one of system, developer, user, assistant; got '",
          ToAbsl(*role), "'"));
    }
    if (is_system && conversation_started) {
      // Anthropic-style providers take one system prompt ahead of the whole conversation;
      // moving a later instruction there, or into a user turn, would change its meaning.
      return Untranslatable(absl::StrCat("a ", ToAbsl(*role), " message after the first user or ",
                                         "assistant message ('", where, "')"));
    }
    if (*role == "assistant") {
      if (auto el = Field(*message, "tool_calls")) {
        auto calls = AsArray(*el, where + ".tool_calls");
        if (!calls.ok()) return calls.status();
        if (calls->size() != 0) return Untranslatable(absl::StrCat("'", where, ".tool_calls'"));
      }
      if (Field(*message, "function_call")) {
        return Untranslatable(absl::StrCat("'", where, ".function_call'"));
      }
      if (Field(*message, "audio")) return Untranslatable(absl::StrCat("'", where, ".audio'"));
    }
    auto content_el = Field(*message, "content");
    if (!content_el) {
      return absl::InvalidArgumentError(absl::StrCat("'", where, ".content' is required"));
    }
    text.clear();
    if (auto s = internal::ReadTextContent(*content_el, where + ".content", DescribeOpenAiPart,
                                           &text, nullptr);
        !s.ok()) {
      return s;
    }
    if (is_system) {
      if (!llm->system.empty() && !text.empty()) llm->system.append("\n\n");
      llm->system.append(text);
      continue;
    }
    internal::AppendTurn(&llm->messages, *role == "user" ? llm::Role::kUser : llm::Role::kAssistant,
                         text);
    conversation_started = true;
  }
  if (llm->messages.empty()) {
    return absl::InvalidArgumentError("'messages' must contain at least one user message");
  }
  if (llm->messages.front().role != llm::Role::kUser) {
    return absl::InvalidArgumentError(
        "'messages': the first message after the system messages must be from the user");
  }
  if (llm->messages.back().role != llm::Role::kUser) {
    return Untranslatable(
        "'messages' ending with an assistant message (a prefill; the conversation must end "
        "with a user message)");
  }
  return absl::OkStatus();
}

absl::Status ReadMaxTokens(simdjson::dom::object obj, int default_max_tokens, int* out) {
  std::optional<int64_t> value;
  std::string_view name = "max_tokens";
  for (std::string_view key : {"max_tokens", "max_completion_tokens"}) {
    auto el = Field(obj, key);
    if (!el) continue;
    auto v = AsInt(*el, key);
    if (!v.ok()) return v.status();
    if (value.has_value() && *value != *v) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'max_tokens' (", *value, ") and 'max_completion_tokens' (", *v, ") disagree"));
    }
    if (!value.has_value()) name = key;
    value = *v;
  }
  if (!value.has_value()) {
    *out = default_max_tokens;
    return absl::OkStatus();
  }
  if (*value < 1 || *value > INT_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", ToAbsl(name), "' must be between 1 and ", INT_MAX));
  }
  *out = static_cast<int>(*value);
  return absl::OkStatus();
}

absl::Status ReadSampling(simdjson::dom::object obj, llm::LlmRequest* llm) {
  if (auto el = Field(obj, "temperature")) {
    auto t = AsNumber(*el, "temperature");
    if (!t.ok()) return t.status();
    if (!(*t >= 0 && *t <= 2)) {
      return absl::InvalidArgumentError("'temperature' must be between 0 and 2");
    }
    llm->temperature = static_cast<float>(*t);
  }
  if (auto el = Field(obj, "top_p")) {
    auto p = AsNumber(*el, "top_p");
    if (!p.ok()) return p.status();
    if (!(*p > 0 && *p <= 1)) {
      return absl::InvalidArgumentError("'top_p' must be greater than 0 and at most 1");
    }
    llm->top_p = static_cast<float>(*p);
  }
  if (auto el = Field(obj, "stop")) {
    std::string_view one;
    simdjson::dom::array many;
    if (el->get(one) == simdjson::SUCCESS) {
      llm->stop.emplace_back(one);
    } else if (el->get(many) == simdjson::SUCCESS) {
      if (many.size() > 4) {
        return absl::InvalidArgumentError("'stop' may hold at most 4 sequences");
      }
      size_t index = 0;
      for (simdjson::dom::element s_el : many) {
        auto s = AsString(s_el, absl::StrCat("stop[", index++, "]"));
        if (!s.ok()) return s.status();
        llm->stop.emplace_back(*s);
      }
    } else {
      return absl::InvalidArgumentError("'stop' must be a string or an array of strings");
    }
  }
  return absl::OkStatus();
}

std::string_view OpenAiErrorType(absl::StatusCode code) {
  const int http = core::HttpStatusFor(code);
  switch (http) {
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 429:
      return "rate_limit_error";
    default:
      return http >= 400 && http < 500 ? "invalid_request_error" : "api_error";
  }
}

void AppendUsage(std::string* out, const core::TokenUsage& u) {
  const int64_t prompt = u.input_tokens + u.cache_read_tokens + u.cache_write_tokens;
  absl::StrAppend(out, "{\"prompt_tokens\":", prompt, ",\"completion_tokens\":", u.output_tokens,
                  ",\"total_tokens\":", prompt + u.output_tokens,
                  ",\"prompt_tokens_details\":{\"cached_tokens\":", u.cache_read_tokens, "}}");
}

// `data: {"id":…,"object":"chat.completion.chunk","created":…,"model":…` — the caller closes.
std::string ChunkHead(std::string_view id, std::string_view model, int64_t created, size_t extra) {
  std::string out;
  out.reserve(96 + id.size() + model.size() + extra);
  out.append("data: {\"id\":");
  AppendJsonString(&out, id);
  out.append(",\"object\":\"chat.completion.chunk\",\"created\":");
  absl::StrAppend(&out, created);
  out.append(",\"model\":");
  AppendJsonString(&out, model);
  return out;
}

}  // namespace

absl::StatusOr<CompatRequest> ParseOpenAiChatRequest(std::string_view body, int max_depth,
                                                     int default_max_tokens) {
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

  if (auto s = RejectUntranslatable(obj); !s.ok()) return s;
  if (auto s = ReadMessages(obj, &out.llm); !s.ok()) return s;
  if (auto s = ReadMaxTokens(obj, default_max_tokens, &out.llm.max_tokens); !s.ok()) return s;
  if (auto s = ReadSampling(obj, &out.llm); !s.ok()) return s;

  if (auto el = Field(obj, "stream")) {
    auto stream = AsBool(*el, "stream");
    if (!stream.ok()) return stream.status();
    out.stream = *stream;
  }
  if (auto el = Field(obj, "stream_options")) {
    auto options = AsObject(*el, "stream_options");
    if (!options.ok()) return options.status();
    if (auto usage_el = Field(*options, "include_usage")) {
      auto include = AsBool(*usage_el, "stream_options.include_usage");
      if (!include.ok()) return include.status();
      out.include_usage = *include;
    }
  }
  if (auto el = Field(obj, "user")) {
    auto user = AsString(*el, "user");
    if (!user.ok()) return user.status();
    out.user = std::string(*user);
  }
  return out;
}

std::string_view OpenAiFinishReason(std::string_view finish_reason) {
  return finish_reason == "length" ? "length" : "stop";
}

// Written field by field like ChatResponseJson: keys and numbers are literals, every string
// goes through AppendJsonString.
std::string OpenAiChatResponseJson(std::string_view id, std::string_view model,
                                   int64_t created_unix, const llm::LlmResponse& r) {
  std::string out;
  out.reserve(320 + id.size() + model.size() + r.text.size() + r.text.size() / 8);
  out.append("{\"id\":");
  AppendJsonString(&out, id);
  out.append(",\"object\":\"chat.completion\",\"created\":");
  absl::StrAppend(&out, created_unix);
  out.append(",\"model\":");
  AppendJsonString(&out, model);
  out.append(",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
  AppendJsonString(&out, r.text);
  out.append("},\"logprobs\":null,\"finish_reason\":\"");
  out.append(OpenAiFinishReason(r.finish_reason));
  out.append("\"}],\"usage\":");
  AppendUsage(&out, r.usage);
  out.push_back('}');
  return out;
}

std::string OpenAiStreamRoleChunk(std::string_view id, std::string_view model, int64_t created) {
  std::string out = ChunkHead(id, model, created, 128);
  out.append(
      ",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
      "\"logprobs\":null,\"finish_reason\":null}]}\n\n");
  return out;
}

std::string OpenAiStreamDeltaChunk(std::string_view id, std::string_view model, int64_t created,
                                   std::string_view text) {
  std::string out = ChunkHead(id, model, created, 96 + text.size() + text.size() / 8);
  out.append(",\"choices\":[{\"index\":0,\"delta\":{\"content\":");
  AppendJsonString(&out, text);
  out.append("},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
  return out;
}

std::string OpenAiStreamFinishChunk(std::string_view id, std::string_view model, int64_t created,
                                    std::string_view finish_reason) {
  std::string out = ChunkHead(id, model, created, 96);
  out.append(",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"");
  out.append(OpenAiFinishReason(finish_reason));
  out.append("\"}]}\n\n");
  return out;
}

std::string OpenAiStreamUsageChunk(std::string_view id, std::string_view model, int64_t created,
                                   const core::TokenUsage& usage) {
  std::string out = ChunkHead(id, model, created, 192);
  out.append(",\"choices\":[],\"usage\":");
  AppendUsage(&out, usage);
  out.append("}\n\n");
  return out;
}

std::string OpenAiStreamDone() { return "data: [DONE]\n\n"; }

std::string OpenAiStreamError(const absl::Status& status, std::string_view request_id) {
  return absl::StrCat("data: ", OpenAiErrorJson(status, request_id), "\n\n");
}

std::string OpenAiModelsJson(const std::vector<std::string>& model_names, int64_t created_unix) {
  std::string out = "{\"object\":\"list\",\"data\":[";
  for (size_t i = 0; i < model_names.size(); ++i) {
    out.append(i == 0 ? "{\"id\":" : ",{\"id\":");
    AppendJsonString(&out, model_names[i]);
    absl::StrAppend(&out, ",\"object\":\"model\",\"created\":", created_unix,
                    ",\"owned_by\":\"mangaassist\"}");
  }
  out.append("]}");
  return out;
}

std::string OpenAiErrorJson(const absl::Status& status, std::string_view request_id) {
  std::string out;
  out.reserve(160 + status.message().size() + request_id.size());
  out.append("{\"error\":{\"message\":");
  AppendJsonString(&out, core::ToStd(status.message()));
  out.append(",\"type\":\"");
  out.append(OpenAiErrorType(status.code()));
  out.append("\",\"code\":\"");
  out.append(core::ErrorTypeFor(status.code()));
  out.append("\",\"param\":null,\"request_id\":");
  AppendJsonString(&out, request_id);
  out.append("}}");
  return out;
}

}  // namespace mangaassist::api
