#include "llm/openai/openai_provider.h"

#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/json_write.h"
#include "http/retry.h"
#include "http/upstream_client.h"
#include "llm/http_provider.h"
#include "llm/sse_decoder.h"
#include "llm/token_count.h"
#include "nlohmann/json.hpp"

namespace mangaassist::llm {

namespace {

using Json = nlohmann::json;

simdjson::dom::parser& ThreadParser() {
  // Used synchronously only: no parse result is held across a suspension point.
  thread_local simdjson::dom::parser parser;
  return parser;
}

std::string NormalizeFinishReason(std::string_view reason) {
  if (reason == "length") return "length";
  return "stop";  // stop, tool_calls, content_filter, eos (llama.cpp), ...
}

// `usage` → TokenUsage in the Anthropic convention. False when prompt/completion are missing.
bool ReadUsage(simdjson::dom::element usage, core::TokenUsage* out) {
  int64_t prompt = 0;
  int64_t completion = 0;
  if (usage["prompt_tokens"].get(prompt) != simdjson::SUCCESS ||
      usage["completion_tokens"].get(completion) != simdjson::SUCCESS) {
    return false;
  }
  int64_t cached = 0;
  if (usage["prompt_tokens_details"]["cached_tokens"].get(cached) != simdjson::SUCCESS) cached = 0;
  cached = std::clamp<int64_t>(cached, 0, prompt);
  out->input_tokens = prompt - cached;
  out->cache_read_tokens = cached;
  out->cache_write_tokens = 0;
  out->output_tokens = completion;
  return true;
}

// `{"error": {"message", "type", "code"}}` (OpenAI, vLLM, llama.cpp) or `{"error": "..."}`
// (Ollama) as "type (code): message"; "" when `root` has no error.
std::string ErrorText(simdjson::dom::element root) {
  simdjson::dom::element error;
  if (root["error"].get(error) != simdjson::SUCCESS) return "";
  std::string_view text;
  if (error.get(text) == simdjson::SUCCESS) return std::string(text);
  std::string out;
  std::string_view type;
  if (error["type"].get(type) == simdjson::SUCCESS) out.append(type);
  std::string_view code;
  int64_t numeric_code = 0;
  if (error["code"].get(code) == simdjson::SUCCESS) {
    out += " (" + std::string(code) + ")";
  } else if (error["code"].get(numeric_code) == simdjson::SUCCESS) {
    out += " (" + std::to_string(numeric_code) + ")";
  }
  std::string_view message;
  if (error["message"].get(message) == simdjson::SUCCESS) {
    if (!out.empty()) out += ": ";
    out.append(message);
  }
  return out.empty() ? "error" : out;
}

class OpenAiSseParser final : public StreamParser {
 public:
  explicit OpenAiSseParser(std::string provider) : provider_(std::move(provider)) {}

  absl::Status Feed(std::string_view bytes, std::vector<std::string>* deltas) override {
    messages_.clear();
    const absl::Status framed = sse_.Feed(bytes, &messages_);
    for (const SseMessage& message : messages_) {
      absl::Status handled = OnData(message.data, deltas);
      if (!handled.ok()) return handled;
    }
    return framed;
  }

  absl::Status AtEnd() override {
    if (progress_.done || !progress_.finish_reason.empty()) return absl::OkStatus();
    return http::WithUpstreamFailure(
        absl::DataLossError(provider_ + ": the stream ended before [DONE]"),
        http::UpstreamFailure::kTruncated);
  }

  const StreamProgress& progress() const override { return progress_; }

 private:
  absl::Status OnData(std::string_view data, std::vector<std::string>* deltas) {
    if (data == "[DONE]") {
      progress_.done = true;
      return absl::OkStatus();
    }
    simdjson::dom::element chunk;
    if (ThreadParser().parse(data.data(), data.size()).get(chunk) != simdjson::SUCCESS ||
        !chunk.is_object()) {
      return MalformedAnswer(provider_, "a stream chunk is not JSON");
    }
    if (std::string error = ErrorText(chunk); !error.empty()) {
      std::string_view type;
      const bool invalid =
          chunk["error"]["type"].get(type) == simdjson::SUCCESS && type == "invalid_request_error";
      return InBandError(invalid ? 400 : 500, provider_ + ": stream error " + error);
    }
    simdjson::dom::array choices;
    if (chunk["choices"].get(choices) == simdjson::SUCCESS) {
      for (simdjson::dom::element choice : choices) {
        int64_t index = 0;
        if (choice["index"].get(index) == simdjson::SUCCESS && index != 0) continue;
        std::string_view content;
        if (choice["delta"]["content"].get(content) == simdjson::SUCCESS && !content.empty()) {
          deltas->emplace_back(content);
        }
        std::string_view finish;
        if (choice["finish_reason"].get(finish) == simdjson::SUCCESS) {
          progress_.finish_reason = NormalizeFinishReason(finish);
        }
      }
    }
    simdjson::dom::element usage;
    if (chunk["usage"].get(usage) == simdjson::SUCCESS && usage.is_object() &&
        ReadUsage(usage, &progress_.usage)) {
      progress_.input_reported = true;
      progress_.output_reported = true;
    }
    return absl::OkStatus();
  }

  const std::string provider_;
  SseDecoder sse_;
  std::vector<SseMessage> messages_;
  StreamProgress progress_;
};

class OpenAiProtocol final : public WireProtocol {
 public:
  OpenAiProtocol(std::string name, std::string url, std::string api_key)
      : name_(std::move(name)), url_(std::move(url)), api_key_(std::move(api_key)) {}

  absl::StatusOr<http::UpstreamRequest> BuildRequest(const LlmRequest& request,
                                                     bool stream) const override {
    http::UpstreamRequest out;
    out.method = "POST";
    out.url = url_;
    out.headers = {{"content-type", "application/json"},
                   {"accept", stream ? "text/event-stream" : "application/json"}};
    if (!api_key_.empty()) out.headers.emplace_back("authorization", "Bearer " + api_key_);
    // Written field by field (core/json_write.h): on every proxied call, a JSON tree built and
    // dumped cost more than the rest of the request.
    std::string& body = out.body;
    size_t size = 160 + request.model.size() + request.system.size();
    for (const Message& message : request.messages) size += 40 + message.content.size();
    body.reserve(size + size / 8);
    body.append("{\"model\":");
    core::AppendJsonString(&body, request.model);
    body.append(",\"messages\":[");
    bool first = true;
    const auto message = [&](std::string_view role, std::string_view content) {
      body.append(first ? "{\"role\":\"" : ",{\"role\":\"");
      first = false;
      body.append(role);
      body.append("\",\"content\":");
      core::AppendJsonString(&body, content);
      body.push_back('}');
    };
    if (!request.system.empty()) message("system", request.system);
    for (const Message& m : request.messages) {
      message(m.role == Role::kAssistant ? "assistant" : "user", m.content);
    }
    body.append("],\"max_tokens\":");
    body.append(std::to_string(request.max_tokens));
    if (request.temperature.has_value()) {
      body.append(",\"temperature\":");
      body.append(Json(JsonNumber(*request.temperature)).dump());
    }
    if (request.top_p.has_value()) {
      body.append(",\"top_p\":");
      body.append(Json(JsonNumber(*request.top_p)).dump());
    }
    if (!request.stop.empty()) {
      body.append(",\"stop\":[");
      for (size_t i = 0; i < request.stop.size(); ++i) {
        if (i > 0) body.push_back(',');
        core::AppendJsonString(&body, request.stop[i]);
      }
      body.push_back(']');
    }
    if (stream) body.append(",\"stream\":true,\"stream_options\":{\"include_usage\":true}");
    body.push_back('}');
    return out;
  }

  absl::StatusOr<LlmResponse> ParseResponse(const LlmRequest& request,
                                            std::string_view body) const override {
    simdjson::dom::element root;
    if (ThreadParser().parse(body.data(), body.size()).get(root) != simdjson::SUCCESS ||
        !root.is_object()) {
      return MalformedAnswer(name_, "the completion is not JSON");
    }
    simdjson::dom::element choice;
    if (root["choices"].at(0).get(choice) != simdjson::SUCCESS) {
      return MalformedAnswer(name_, "the completion has no choices");
    }
    LlmResponse out;
    std::string_view content;
    if (choice["message"]["content"].get(content) == simdjson::SUCCESS) out.text.assign(content);
    std::string_view finish;
    if (choice["finish_reason"].get(finish) != simdjson::SUCCESS) finish = "stop";
    out.finish_reason = NormalizeFinishReason(finish);
    simdjson::dom::element usage;
    if (root["usage"].get(usage) != simdjson::SUCCESS || !usage.is_object() ||
        !ReadUsage(usage, &out.usage)) {
      out.usage.input_tokens = RoughPromptTokens(request);
      out.usage.output_tokens = RoughTokenCount(out.text);
    }
    return out;
  }

  absl::Status ErrorStatus(int http_status, const http::UpstreamHeaders& headers,
                           std::string_view body, absl::Time now) const override {
    const absl::Status base = http::StatusFromHttpResponse(http_status, headers, body, now);
    simdjson::dom::element root;
    std::string text;
    if (ThreadParser().parse(body.data(), body.size()).get(root) == simdjson::SUCCESS) {
      text = ErrorText(root);
    }
    if (text.empty()) return WithMessage(base, name_ + ": " + std::string(base.message()));
    return WithMessage(base, name_ + ": HTTP " + std::to_string(http_status) + " " + text);
  }

  std::unique_ptr<StreamParser> NewStreamParser() const override {
    return std::make_unique<OpenAiSseParser>(name_);
  }

 private:
  const std::string name_;
  const std::string url_;
  const std::string api_key_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Provider>> NewOpenAiProvider(const core::ProviderConfig& config,
                                                            const ProviderDeps& deps) {
  if (config.base_url.empty()) {
    return absl::InvalidArgumentError("provider '" + config.name + "': base_url is required");
  }
  std::string_view base = config.base_url;
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  const bool has_v1 = base.size() >= 3 && base.substr(base.size() - 3) == "/v1";
  const std::string url = JoinUrl(base, has_v1 ? "/chat/completions" : "/v1/chat/completions");
  if (absl::Status parsed = http::ParseUpstreamUrl(url).status(); !parsed.ok()) {
    return absl::InvalidArgumentError("provider '" + config.name + "': bad base_url '" +
                                      config.base_url + "': " + std::string(parsed.message()));
  }
  return NewHttpProvider(config, deps,
                         std::make_unique<OpenAiProtocol>(config.name, url, config.api_key));
}

}  // namespace mangaassist::llm
