// HttpProvider: the machinery the network providers (anthropic, bedrock, openai) share — one
// place for deadlines, retries (http::SendWithRetry / OpenWithRetry), the per-provider circuit
// breaker, X-Request-Id forwarding, metrics, and a stream that accounts the tokens consumed even
// when it is cut or cancelled. A provider contributes only its WireProtocol: how a request is
// written and how answers, errors and stream bytes are read.
//
// Accounting: a stream cut short (truncated, an in-band error, Cancel(), dropped) ends with the
// provider-reported usage so far; what the provider had not reported yet (OpenAI reports usage
// only at the end, Anthropic the output count) is estimated with RoughTokenCount from the prompt
// and the text received, never left at zero.
// Breaker: transport errors and HTTP statuses count (http::IsBreakerFailure); a malformed 2xx
// body counts as a success, and a stream that ends with an in-band error as abandoned — the
// verdict of a started stream belongs to http::OpenWithRetry.
//
// Thread-safety: an HttpProvider is immutable after creation (its breaker and metrics are
// thread-safe) and may be called from many threads. A stream belongs to the coroutine that
// opened it: Next() and Cancel() must run on that coroutine's executor, and the provider must
// outlive its streams.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/llm_config.h"
#include "core/pricing.h"
#include "http/circuit_breaker.h"
#include "http/retry.h"
#include "http/upstream_client.h"
#include "llm/provider.h"
#include "llm/provider_deps.h"

namespace mangaassist::llm {

// What a stream has reported so far.
struct StreamProgress {
  core::TokenUsage usage;
  bool input_reported = false;   // the input-side counts came from the provider
  bool output_reported = false;  // usage.output_tokens is the provider's final count
  std::string finish_reason;     // normalized ("stop", "length", ...); "" until known
  bool done = false;             // the protocol's last event arrived (message_stop, [DONE])
};

// Decodes one streaming response body. Not thread-safe.
class StreamParser {
 public:
  virtual ~StreamParser() = default;
  // Consumes body bytes, appending text deltas to `deltas`. An error (malformed data, an
  // in-band error event) ends the stream; deltas appended before it are still delivered.
  [[nodiscard]] virtual absl::Status Feed(std::string_view bytes,
                                          std::vector<std::string>* deltas) = 0;
  // At the end of the body: OK when the answer is complete, DataLoss when it was cut.
  [[nodiscard]] virtual absl::Status AtEnd() = 0;
  virtual const StreamProgress& progress() const = 0;
};

// One provider's wire format. Immutable and thread-safe.
class WireProtocol {
 public:
  virtual ~WireProtocol() = default;
  // URL, headers and body of the upstream call (timeouts, deadline and request id are set by
  // the HttpProvider).
  virtual absl::StatusOr<http::UpstreamRequest> BuildRequest(const LlmRequest& request,
                                                             bool stream) const = 0;
  // A 2xx non-streaming body. Text, usage and finish reason; the rest is filled in later.
  virtual absl::StatusOr<LlmResponse> ParseResponse(const LlmRequest& request,
                                                    std::string_view body) const = 0;
  // The status of an HTTP error answer: the code and payloads of http::StatusFromHttpResponse
  // (so retry, breaker and fallback decisions see the HTTP status), the provider's own message.
  virtual absl::Status ErrorStatus(int http_status, const http::UpstreamHeaders& headers,
                                   std::string_view body, absl::Time now) const = 0;
  virtual std::unique_ptr<StreamParser> NewStreamParser() const = 0;
};

// Wraps the upstream client a provider calls through (Bedrock signs every attempt this way).
using ClientDecorator =
    std::function<std::unique_ptr<http::UpstreamClient>(http::UpstreamClient* inner)>;

// Creates the provider named config.name. The client is deps.client, or one of its own when
// deps.client is null or config.ca_file is set. InvalidArgument for an unusable config (bad
// base URL, CA file).
absl::StatusOr<std::unique_ptr<Provider>> NewHttpProvider(const core::ProviderConfig& config,
                                                          const ProviderDeps& deps,
                                                          std::unique_ptr<WireProtocol> protocol,
                                                          const ClientDecorator& decorate = {});

// --- Helpers shared by the wire protocols. ---

// `status` with `message` instead of its own, its payloads (HTTP status, Retry-After, failure
// kind) kept.
absl::Status WithMessage(const absl::Status& status, std::string message);

// A 2xx answer that does not parse: Unavailable with UpstreamFailure::kProtocol, so it is not
// retried (the call may have been billed) but counts against the breaker and falls back.
absl::Status MalformedAnswer(std::string_view provider, std::string_view what);

// The status an in-band error of a stream stands for, as if the provider had answered
// `http_status` (the same code table as StatusFromHttpResponse).
absl::Status InBandError(int http_status, std::string message);

// Upstream attempts made by a failed call (0 when a breaker refused it), carried as a status
// payload so that a fallback chain can count them. 1 when absent.
int AttemptsOf(const absl::Status& status);
void SetAttempts(absl::Status& status, int attempts);

// The typed `breaker:` and `retry:` config of a provider as the http layer's types (shared by
// every provider that keeps a breaker or retries, the simulated one included).
http::CircuitBreakerConfig BreakerConfigOf(const core::BreakerConfig& config);
http::RetryPolicy RetryPolicyOf(const core::RetryConfig& config);

// A sampling parameter as a JSON number without float noise (0.7f → 0.7).
double JsonNumber(float value);

// `base_url` joined with `path` (exactly one '/' between them).
std::string JoinUrl(std::string_view base_url, std::string_view path);

}  // namespace mangaassist::llm
