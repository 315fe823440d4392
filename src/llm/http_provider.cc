#include "llm/http_provider.h"

// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <algorithm>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cmath>
#include <optional>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "llm/provider_metrics.h"
#include "llm/token_count.h"

namespace mangaassist::llm {

namespace asio = boost::asio;

namespace {

constexpr char kAttemptsPayload[] = "mangaassist.dev/llm-attempts";
// An error answer's body is read for its message only.
constexpr size_t kMaxErrorBodyBytes = 64 << 10;

class HttpProvider;

// A provider stream: text deltas from the StreamParser, usage so far in Final().
class HttpLlmStream final : public LlmStream {
 public:
  HttpLlmStream(const HttpProvider* provider, std::unique_ptr<http::UpstreamStream> upstream,
                std::unique_ptr<StreamParser> parser, std::string model, int64_t prompt_estimate,
                int64_t start_nanos, int attempts);
  ~HttpLlmStream() override;

  asio::awaitable<absl::StatusOr<std::optional<std::string>>> Next() override;
  void Cancel() override;
  const LlmResponse& Final() const override { return final_; }

 private:
  void UpdateFinal();
  void Finish(absl::Status status);

  const HttpProvider* const provider_;
  std::unique_ptr<http::UpstreamStream> upstream_;
  std::unique_ptr<StreamParser> parser_;
  const int64_t prompt_estimate_;
  const int64_t start_nanos_;
  std::vector<std::string> deltas_;  // parsed, not yet returned by Next()
  size_t next_delta_ = 0;
  bool reading_ = false;   // a ReadChunk() is in progress
  bool finished_ = false;  // terminal_ is the outcome
  absl::Status terminal_;
  LlmResponse final_;
};

class HttpProvider final : public Provider {
 public:
  HttpProvider(const core::ProviderConfig& config, const ProviderDeps& deps,
               std::unique_ptr<WireProtocol> protocol,
               std::unique_ptr<http::UpstreamClient> owned_client,
               std::unique_ptr<http::UpstreamClient> decorated_client, http::UpstreamClient* client)
      : name_(config.name),
        timeouts_{config.connect_timeout, config.first_byte_timeout, config.timeout},
        retry_(RetryPolicyOf(config.retry)),
        clock_(deps.clock),
        protocol_(std::move(protocol)),
        owned_client_(std::move(owned_client)),
        decorated_client_(std::move(decorated_client)),
        client_(client),
        breaker_(config.name, BreakerConfigOf(config.breaker), deps.clock, deps.metrics),
        metrics_(config.name, deps.metrics) {}

  std::string_view name() const override { return name_; }

  asio::awaitable<absl::StatusOr<LlmResponse>> Complete(const LlmRequest& request) override {
    const int64_t start = clock_->MonotonicNanos();
    absl::StatusOr<http::UpstreamRequest> prepared = Prepare(request, /*stream=*/false);
    if (!prepared.ok()) co_return Fail(request.model, prepared.status(), start, 0);
    http::UpstreamRequest upstream_request = *std::move(prepared);
    http::RetryTrace trace;
    http::RetryOptions options = RetryOptionsFor(&trace);
    // The 2xx body is parsed inside the retry loop, so a malformed answer counts against the
    // breaker like any other provider failure (not as the success its status claims).
    std::optional<LlmResponse> parsed;
    options.check_2xx = [this, &request, &parsed](const http::UpstreamResponse& r) {
      absl::StatusOr<LlmResponse> p = protocol_->ParseResponse(request, r.body);
      if (!p.ok()) return p.status();
      parsed = *std::move(p);
      return absl::OkStatus();
    };
    absl::StatusOr<http::UpstreamResponse> response =
        co_await http::SendWithRetry(client_, std::move(upstream_request), retry_, options);
    if (!response.ok()) co_return Fail(request.model, response.status(), start, trace.attempts);
    if (response->status < 200 || response->status >= 300) {
      const absl::Status error = protocol_->ErrorStatus(response->status, response->headers,
                                                        response->body, clock_->Now());
      co_return Fail(request.model, error, start, trace.attempts);
    }
    if (!parsed.has_value()) {
      co_return Fail(request.model, absl::InternalError("2xx answer was not parsed"), start,
                     trace.attempts);
    }
    LlmResponse answer = *std::move(parsed);
    answer.model = request.model;
    answer.latency = absl::Nanoseconds(clock_->MonotonicNanos() - start);
    answer.attempts = std::max(1, trace.attempts);
    metrics_.RecordCall(request.model, absl::OkStatus(), answer.latency, answer.usage,
                        answer.attempts);
    co_return answer;
  }

  asio::awaitable<absl::StatusOr<std::unique_ptr<LlmStream>>> Stream(
      const LlmRequest& request) override {
    const int64_t start = clock_->MonotonicNanos();
    absl::StatusOr<http::UpstreamRequest> prepared = Prepare(request, /*stream=*/true);
    if (!prepared.ok()) co_return Fail(request.model, prepared.status(), start, 0);
    http::UpstreamRequest upstream_request = *std::move(prepared);
    http::RetryTrace trace;
    http::RetryOptions options = RetryOptionsFor(&trace);
    absl::StatusOr<std::unique_ptr<http::UpstreamStream>> opened =
        co_await http::OpenWithRetry(client_, std::move(upstream_request), retry_, options);
    if (!opened.ok()) co_return Fail(request.model, opened.status(), start, trace.attempts);
    std::unique_ptr<http::UpstreamStream> upstream = *std::move(opened);
    const int http_status = upstream->status();
    if (http_status < 200 || http_status >= 300) {
      absl::StatusOr<std::string> body = co_await upstream->ReadToEnd(kMaxErrorBodyBytes);
      const std::string error_body = body.ok() ? *std::move(body) : std::string();
      const absl::Status error =
          protocol_->ErrorStatus(http_status, upstream->headers(), error_body, clock_->Now());
      co_return Fail(request.model, error, start, trace.attempts);
    }
    std::unique_ptr<LlmStream> stream = std::make_unique<HttpLlmStream>(
        this, std::move(upstream), protocol_->NewStreamParser(), request.model,
        RoughPromptTokens(request), start, std::max(1, trace.attempts));
    co_return stream;
  }

  const core::Clock* clock() const { return clock_; }
  // Metrics are thread-safe; a stream records its outcome through a const provider.
  ProviderMetrics& metrics() const { return metrics_; }

 private:
  absl::StatusOr<http::UpstreamRequest> Prepare(const LlmRequest& request, bool stream) const {
    if (request.model.empty()) return absl::InvalidArgumentError(name_ + ": no model given");
    absl::StatusOr<http::UpstreamRequest> built = protocol_->BuildRequest(request, stream);
    if (!built.ok()) return built.status();
    built->request_id = request.request_id;
    built->timeouts = timeouts_;
    if (request.timeout > absl::ZeroDuration() && request.timeout < absl::InfiniteDuration()) {
      built->deadline =
          std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(request.timeout);
    }
    return built;
  }

  http::RetryOptions RetryOptionsFor(http::RetryTrace* trace) {
    http::RetryOptions options;
    options.clock = clock_;
    options.breaker = &breaker_;
    options.trace = trace;
    return options;
  }

  absl::Status Fail(const std::string& model, absl::Status status, int64_t start,
                    int attempts) const {
    const absl::Duration latency = absl::Nanoseconds(clock_->MonotonicNanos() - start);
    metrics_.RecordCall(model, status, latency, core::TokenUsage{}, attempts);
    SetAttempts(status, attempts);
    return status;
  }

  const std::string name_;
  const http::UpstreamTimeouts timeouts_;
  const http::RetryPolicy retry_;
  const core::Clock* const clock_;
  const std::unique_ptr<WireProtocol> protocol_;
  const std::unique_ptr<http::UpstreamClient> owned_client_;
  const std::unique_ptr<http::UpstreamClient> decorated_client_;
  http::UpstreamClient* const client_;
  http::CircuitBreaker breaker_;
  mutable ProviderMetrics metrics_;
};

HttpLlmStream::HttpLlmStream(const HttpProvider* provider,
                             std::unique_ptr<http::UpstreamStream> upstream,
                             std::unique_ptr<StreamParser> parser, std::string model,
                             int64_t prompt_estimate, int64_t start_nanos, int attempts)
    : provider_(provider),
      upstream_(std::move(upstream)),
      parser_(std::move(parser)),
      prompt_estimate_(prompt_estimate),
      start_nanos_(start_nanos) {
  final_.model = std::move(model);
  final_.attempts = attempts;
  UpdateFinal();
}

HttpLlmStream::~HttpLlmStream() {
  // Dropped before its end: the client went away without calling Cancel().
  if (!finished_) Cancel();
}

asio::awaitable<absl::StatusOr<std::optional<std::string>>> HttpLlmStream::Next() {
  for (;;) {
    if (next_delta_ < deltas_.size()) {
      std::optional<std::string> delta = std::move(deltas_[next_delta_++]);
      if (next_delta_ == deltas_.size()) {
        deltas_.clear();
        next_delta_ = 0;
      }
      co_return delta;
    }
    if (finished_) {
      if (terminal_.ok()) co_return std::optional<std::string>();
      co_return terminal_;
    }
    reading_ = true;
    absl::StatusOr<std::string> chunk = co_await upstream_->ReadChunk();
    reading_ = false;
    if (finished_) {
      // Cancel() ran while we were reading.
      upstream_.reset();
      continue;
    }
    if (!chunk.ok()) {
      if (absl::IsOutOfRange(chunk.status())) {
        Finish(parser_->AtEnd());
      } else if (parser_->progress().done) {
        Finish(absl::OkStatus());  // everything arrived; only the connection's end was unclean
      } else {
        Finish(chunk.status());
      }
      continue;
    }
    const size_t before = deltas_.size();
    const absl::Status fed = parser_->Feed(*chunk, &deltas_);
    for (size_t i = before; i < deltas_.size(); ++i) final_.text += deltas_[i];
    UpdateFinal();
    if (!fed.ok()) Finish(fed);
    // Even after the last event the body is read to its end, so that the connection returns to
    // the pool and the breaker hears of the success.
  }
}

void HttpLlmStream::Cancel() {
  if (finished_) return;
  if (upstream_ != nullptr) upstream_->Cancel();
  deltas_.clear();
  next_delta_ = 0;
  Finish(absl::CancelledError("stream cancelled by the client"));
}

void HttpLlmStream::UpdateFinal() {
  const StreamProgress& progress = parser_->progress();
  core::TokenUsage usage = progress.usage;
  if (!progress.input_reported) usage.input_tokens = std::max(usage.input_tokens, prompt_estimate_);
  if (!progress.output_reported) {
    // Cut or cancelled before the provider's final count: what was generated so far still
    // costs money, so it is estimated rather than accounted as zero.
    usage.output_tokens = std::max(usage.output_tokens, RoughTokenCount(final_.text));
  }
  final_.usage = usage;
  final_.finish_reason = progress.finish_reason;
  final_.latency = absl::Nanoseconds(provider_->clock()->MonotonicNanos() - start_nanos_);
}

void HttpLlmStream::Finish(absl::Status status) {
  if (finished_) return;
  finished_ = true;
  UpdateFinal();
  if (!status.ok()) {
    final_.finish_reason = "error";
  } else if (final_.finish_reason.empty()) {
    final_.finish_reason = "stop";
  }
  // The connection is closed (or, after a clean end, already back in the pool); not while a
  // read is in progress: Next() drops it when that read returns.
  if (!reading_) upstream_.reset();
  provider_->metrics().RecordCall(final_.model, status, final_.latency, final_.usage,
                                  final_.attempts);
  terminal_ = std::move(status);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Provider>> NewHttpProvider(const core::ProviderConfig& config,
                                                          const ProviderDeps& deps,
                                                          std::unique_ptr<WireProtocol> protocol,
                                                          const ClientDecorator& decorate) {
  if (config.name.empty()) return absl::InvalidArgumentError("provider without a name");
  if (deps.clock == nullptr) return absl::InvalidArgumentError("provider without a clock");
  std::unique_ptr<http::UpstreamClient> owned;
  http::UpstreamClient* client = deps.client;
  if (client == nullptr || !config.ca_file.empty()) {
    http::UpstreamClientOptions options;
    options.name = config.name;
    options.ca_file = config.ca_file;
    options.timeouts = {config.connect_timeout, config.first_byte_timeout, config.timeout};
    absl::StatusOr<std::unique_ptr<http::UpstreamClient>> created =
        http::NewUpstreamClient(options, deps.metrics);
    if (!created.ok()) {
      return absl::InvalidArgumentError("provider '" + config.name +
                                        "': " + std::string(created.status().message()));
    }
    owned = *std::move(created);
    client = owned.get();
  }
  std::unique_ptr<http::UpstreamClient> decorated;
  if (decorate) {
    decorated = decorate(client);
    client = decorated.get();
  }
  return std::make_unique<HttpProvider>(config, deps, std::move(protocol), std::move(owned),
                                        std::move(decorated), client);
}

absl::Status WithMessage(const absl::Status& status, std::string message) {
  absl::Status out(status.code(), message);
  status.ForEachPayload([&out](absl::string_view type_url, const absl::Cord& payload) {
    out.SetPayload(type_url, payload);
  });
  return out;
}

absl::Status MalformedAnswer(std::string_view provider, std::string_view what) {
  std::string message(provider);
  message += ": malformed answer: ";
  message += what;
  return http::WithUpstreamFailure(absl::UnavailableError(message),
                                   http::UpstreamFailure::kProtocol);
}

absl::Status InBandError(int http_status, std::string message) {
  const absl::Status base = http::StatusFromHttpResponse(http_status, {}, "", absl::UnixEpoch());
  return WithMessage(base, std::move(message));
}

http::CircuitBreakerConfig BreakerConfigOf(const core::BreakerConfig& c) {
  http::CircuitBreakerConfig out;
  out.consecutive_failures = c.consecutive_failures;
  out.error_rate = std::clamp(c.error_rate_percent, 0, 100) / 100.0;
  out.min_calls = c.min_calls;
  out.window = c.window;
  out.cooldown = c.cooldown;
  out.half_open_probes = c.half_open_probes;
  return out;
}

http::RetryPolicy RetryPolicyOf(const core::RetryConfig& c) {
  http::RetryPolicy out;
  out.max_attempts = std::max(1, c.max_attempts);
  out.base_backoff = c.base_backoff;
  out.max_backoff = c.max_backoff;
  out.max_retry_after = c.max_retry_after;
  return out;
}

int AttemptsOf(const absl::Status& status) {
  const absl::optional<absl::Cord> payload = status.GetPayload(kAttemptsPayload);
  int attempts = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &attempts)) return 1;
  return attempts;
}

void SetAttempts(absl::Status& status, int attempts) {
  if (!status.ok()) status.SetPayload(kAttemptsPayload, absl::Cord(std::to_string(attempts)));
}

double JsonNumber(float value) { return std::round(static_cast<double>(value) * 1e6) / 1e6; }

std::string JoinUrl(std::string_view base_url, std::string_view path) {
  while (!base_url.empty() && base_url.back() == '/') base_url.remove_suffix(1);
  std::string out(base_url);
  if (path.empty() || path.front() != '/') out += '/';
  out += path;
  return out;
}

}  // namespace mangaassist::llm
