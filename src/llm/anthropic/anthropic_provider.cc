#include "llm/anthropic/anthropic_provider.h"

#include <string>
#include <utility>
#include <vector>

#include "http/upstream_client.h"
#include "llm/anthropic/anthropic_events.h"
#include "llm/http_provider.h"
#include "llm/sse_decoder.h"

namespace mangaassist::llm {

namespace {

constexpr char kDefaultBaseUrl[] = "https://api.anthropic.com";

// SSE framing around the shared Anthropic event handling.
class AnthropicSseParser final : public StreamParser {
 public:
  explicit AnthropicSseParser(std::string provider) : events_(std::move(provider)) {}

  absl::Status Feed(std::string_view bytes, std::vector<std::string>* deltas) override {
    messages_.clear();
    const absl::Status framed = sse_.Feed(bytes, &messages_);
    for (const SseMessage& message : messages_) {
      absl::Status handled = events_.OnEvent(message.data, deltas);
      if (!handled.ok()) return handled;
    }
    return framed;
  }

  absl::Status AtEnd() override { return events_.AtEnd(); }
  const StreamProgress& progress() const override { return events_.progress(); }

 private:
  SseDecoder sse_;
  anthropic::EventHandler events_;
  std::vector<SseMessage> messages_;
};

class AnthropicProtocol final : public WireProtocol {
 public:
  AnthropicProtocol(std::string name, std::string url, std::string api_key, std::string version)
      : name_(std::move(name)),
        url_(std::move(url)),
        api_key_(std::move(api_key)),
        version_(std::move(version)) {}

  absl::StatusOr<http::UpstreamRequest> BuildRequest(const LlmRequest& request,
                                                     bool stream) const override {
    http::UpstreamRequest out;
    out.method = "POST";
    out.url = url_;
    out.headers = {{"content-type", "application/json"},
                   {"accept", stream ? "text/event-stream" : "application/json"},
                   {"anthropic-version", version_}};
    if (!api_key_.empty()) out.headers.emplace_back("x-api-key", api_key_);
    out.body = anthropic::BuildBody(
        request, {.include_model = true, .stream = stream, .anthropic_version = ""});
    return out;
  }

  absl::StatusOr<LlmResponse> ParseResponse(const LlmRequest& /*request*/,
                                            std::string_view body) const override {
    return anthropic::ParseMessage(name_, body);
  }

  absl::Status ErrorStatus(int http_status, const http::UpstreamHeaders& headers,
                           std::string_view body, absl::Time now) const override {
    return anthropic::ErrorStatus(name_, http_status, headers, body, now);
  }

  std::unique_ptr<StreamParser> NewStreamParser() const override {
    return std::make_unique<AnthropicSseParser>(name_);
  }

 private:
  const std::string name_;
  const std::string url_;
  const std::string api_key_;
  const std::string version_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Provider>> NewAnthropicProvider(const core::ProviderConfig& config,
                                                               const ProviderDeps& deps) {
  const std::string base = config.base_url.empty() ? kDefaultBaseUrl : config.base_url;
  const std::string url = JoinUrl(base, "/v1/messages");
  if (absl::Status parsed = http::ParseUpstreamUrl(url).status(); !parsed.ok()) {
    return absl::InvalidArgumentError("provider '" + config.name + "': bad base_url '" + base +
                                      "': " + std::string(parsed.message()));
  }
  if (config.anthropic_version.empty()) {
    return absl::InvalidArgumentError("provider '" + config.name + "': empty anthropic_version");
  }
  return NewHttpProvider(config, deps,
                         std::make_unique<AnthropicProtocol>(config.name, url, config.api_key,
                                                             config.anthropic_version));
}

}  // namespace mangaassist::llm
