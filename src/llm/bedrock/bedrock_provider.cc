#include "llm/bedrock/bedrock_provider.h"

// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <simdjson.h>

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/strings.h"
#include "http/retry.h"
#include "http/upstream_client.h"
#include "llm/anthropic/anthropic_events.h"
#include "llm/bedrock/eventstream.h"
#include "llm/bedrock/sigv4.h"
#include "llm/http_provider.h"

namespace mangaassist::llm {

namespace {

namespace asio = boost::asio;

constexpr char kBedrockAnthropicVersion[] = "bedrock-2023-05-31";
constexpr char kSigningService[] = "bedrock";

simdjson::dom::parser& ThreadParser() {
  // Used synchronously only: no parse result is held across a suspension point.
  thread_local simdjson::dom::parser parser;
  return parser;
}

// Signs every request just before it goes out, so that each retry carries a fresh X-Amz-Date
// (and the credentials the environment holds then).
class SigningClient final : public http::UpstreamClient {
 public:
  SigningClient(http::UpstreamClient* inner, std::string region, const core::Clock* clock)
      : inner_(inner), region_(std::move(region)), clock_(clock) {}

  asio::awaitable<absl::StatusOr<http::UpstreamResponse>> Send(
      http::UpstreamRequest request) override {
    const absl::Status signed_ok = Sign(request);
    if (!signed_ok.ok()) co_return signed_ok;
    absl::StatusOr<http::UpstreamResponse> response = co_await inner_->Send(std::move(request));
    co_return response;
  }

  asio::awaitable<absl::StatusOr<std::unique_ptr<http::UpstreamStream>>> Open(
      http::UpstreamRequest request) override {
    const absl::Status signed_ok = Sign(request);
    if (!signed_ok.ok()) co_return signed_ok;
    absl::StatusOr<std::unique_ptr<http::UpstreamStream>> stream =
        co_await inner_->Open(std::move(request));
    co_return stream;
  }

 private:
  absl::Status Sign(http::UpstreamRequest& request) const {
    absl::StatusOr<bedrock::AwsCredentials> credentials = bedrock::CredentialsFromEnv();
    if (!credentials.ok()) return credentials.status();
    absl::StatusOr<http::UpstreamUrl> url = http::ParseUpstreamUrl(request.url);
    if (!url.ok()) return url.status();
    bedrock::SignableRequest signable;
    signable.method = request.method;
    signable.host = url->HostHeader();
    const size_t query = url->target.find('?');
    signable.path = url->target.substr(0, query);
    if (query != std::string::npos) signable.query = url->target.substr(query + 1);
    signable.headers = std::move(request.headers);
    signable.body = std::move(request.body);
    const absl::Status status =
        bedrock::SignRequest(signable, *credentials, region_, kSigningService, clock_->Now());
    request.headers = std::move(signable.headers);
    request.body = std::move(signable.body);
    return status;
  }

  http::UpstreamClient* const inner_;
  const std::string region_;
  const core::Clock* const clock_;
};

// Event-stream frames → chunk payloads → the shared Anthropic event handling.
class BedrockStreamParser final : public StreamParser {
 public:
  explicit BedrockStreamParser(std::string provider)
      : provider_(provider), events_(std::move(provider)) {}

  absl::Status Feed(std::string_view bytes, std::vector<std::string>* deltas) override {
    const absl::Status framed = decoder_.Feed(bytes);
    while (std::optional<bedrock::EventMessage> message = decoder_.Next()) {
      if (message->IsException()) {
        const absl::Status exception = bedrock::StreamExceptionStatus(*message);
        return WithMessage(exception, provider_ + ": " + std::string(exception.message()));
      }
      if (message->EventType() != "chunk") continue;
      absl::StatusOr<std::string> inner = bedrock::DecodeChunkPayload(message->payload);
      if (!inner.ok()) return MalformedAnswer(provider_, core::ToStd(inner.status().message()));
      absl::Status handled = events_.OnEvent(*inner, deltas);
      if (!handled.ok()) return handled;
    }
    if (!framed.ok()) {
      return http::WithUpstreamFailure(
          absl::DataLossError(provider_ + ": " + std::string(framed.message())),
          http::UpstreamFailure::kProtocol);
    }
    return absl::OkStatus();
  }

  absl::Status AtEnd() override {
    if (absl::Status finished = decoder_.Finish(); !finished.ok()) {
      return http::WithUpstreamFailure(
          absl::DataLossError(provider_ + ": " + std::string(finished.message())),
          http::UpstreamFailure::kTruncated);
    }
    return events_.AtEnd();
  }

  const StreamProgress& progress() const override { return events_.progress(); }

 private:
  const std::string provider_;
  bedrock::EventStreamDecoder decoder_;
  anthropic::EventHandler events_;
};

class BedrockProtocol final : public WireProtocol {
 public:
  BedrockProtocol(std::string name, std::string base_url)
      : name_(std::move(name)), base_url_(std::move(base_url)) {}

  absl::StatusOr<http::UpstreamRequest> BuildRequest(const LlmRequest& request,
                                                     bool stream) const override {
    http::UpstreamRequest out;
    out.method = "POST";
    const std::string path = "/model/" + bedrock::UriEncode(request.model, true) +
                             (stream ? "/invoke-with-response-stream" : "/invoke");
    out.url = JoinUrl(base_url_, path);
    out.headers = {{"content-type", "application/json"}};
    if (stream) {
      out.headers.emplace_back("accept", "application/vnd.amazon.eventstream");
      out.headers.emplace_back("x-amzn-bedrock-accept", "application/json");
    } else {
      out.headers.emplace_back("accept", "application/json");
    }
    out.body = anthropic::BuildBody(
        request,
        {.include_model = false, .stream = false, .anthropic_version = kBedrockAnthropicVersion});
    return out;
  }

  absl::StatusOr<LlmResponse> ParseResponse(const LlmRequest& /*request*/,
                                            std::string_view body) const override {
    return anthropic::ParseMessage(name_, body);
  }

  // AWS JSON errors: the type in x-amzn-ErrorType ("ThrottlingException:http://..."), the text
  // in {"message": ...}.
  absl::Status ErrorStatus(int http_status, const http::UpstreamHeaders& headers,
                           std::string_view body, absl::Time now) const override {
    const absl::Status base = http::StatusFromHttpResponse(http_status, headers, body, now);
    std::string type = http::FindHeader(headers, "x-amzn-ErrorType");
    type = type.substr(0, type.find(':'));
    simdjson::dom::element root;
    std::string_view message;
    const bool parsed =
        ThreadParser().parse(body.data(), body.size()).get(root) == simdjson::SUCCESS &&
        (root["message"].get(message) == simdjson::SUCCESS ||
         root["Message"].get(message) == simdjson::SUCCESS);
    if (!parsed && type.empty()) {
      return WithMessage(base, name_ + ": " + std::string(base.message()));
    }
    std::string text = name_ + ": HTTP " + std::to_string(http_status);
    if (!type.empty()) text += " " + type;
    if (parsed) {
      text += ": ";
      text.append(message);
    }
    return WithMessage(base, std::move(text));
  }

  std::unique_ptr<StreamParser> NewStreamParser() const override {
    return std::make_unique<BedrockStreamParser>(name_);
  }

 private:
  const std::string name_;
  const std::string base_url_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Provider>> NewBedrockProvider(const core::ProviderConfig& config,
                                                             const ProviderDeps& deps) {
  const std::string where = "provider '" + config.name + "': ";
  if (config.region.empty()) return absl::InvalidArgumentError(where + "region is required");
  absl::StatusOr<std::string> endpoint = bedrock::BedrockRuntimeEndpoint(config.region);
  if (!endpoint.ok())
    return absl::InvalidArgumentError(where + std::string(endpoint.status().message()));
  std::string base_url = "https://" + *endpoint;
  if (!config.base_url.empty()) {
    if (absl::Status same = bedrock::CheckSameRegion(config.base_url, config.region); !same.ok()) {
      return WithMessage(same, where + std::string(same.message()));
    }
    base_url = config.base_url;
  }
  if (absl::Status parsed = http::ParseUpstreamUrl(JoinUrl(base_url, "/model/x/invoke")).status();
      !parsed.ok()) {
    return absl::InvalidArgumentError(where + "bad base_url '" + base_url +
                                      "': " + std::string(parsed.message()));
  }
  const std::string region = config.region;
  const core::Clock* clock = deps.clock;
  return NewHttpProvider(
      config, deps, std::make_unique<BedrockProtocol>(config.name, base_url),
      [region, clock](http::UpstreamClient* inner) -> std::unique_ptr<http::UpstreamClient> {
        return std::make_unique<SigningClient>(inner, region, clock);
      });
}

}  // namespace mangaassist::llm
