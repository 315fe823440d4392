#include "llm/simulated/simulated_provider.h"

// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <algorithm>
#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "http/circuit_breaker.h"
#include "http/retry.h"
#include "http/upstream_client.h"
#include "llm/http_provider.h"
#include "llm/one_shot_stream.h"
#include "llm/provider_metrics.h"
#include "llm/simulated/answer_lengths.h"
#include "llm/simulated/simulation.h"
#include "llm/token_count.h"

namespace mangaassist::llm {

namespace {

namespace asio = boost::asio;

// Salts of the independent decisions drawn from one request's hash.
enum Salt : uint64_t { kBand = 1, kValue, kJitter, kFail, kBackoff };

// Latency of a model family: time to first token and time per output token. Rough public
// figures for Claude on Bedrock (docs/replay.md); only their order of magnitude matters.
struct LatencyModel {
  absl::Duration first_token;
  absl::Duration per_token;
};

LatencyModel LatencyOf(std::string_view model) {
  auto has = [model](std::string_view part) { return model.find(part) != std::string_view::npos; };
  if (has("sonnet") || has("opus")) return {absl::Milliseconds(800), absl::Milliseconds(14)};
  if (has("haiku")) return {absl::Milliseconds(400), absl::Milliseconds(8)};
  return {absl::Milliseconds(300), absl::Milliseconds(10)};
}

// A failed attempt answers fast (a 503 from a browning-out endpoint).
constexpr absl::Duration kFailedAttemptLatency = absl::Milliseconds(100);

class SimulatedProvider final : public Provider {
 public:
  SimulatedProvider(const core::ProviderConfig& config, const ProviderDeps& deps)
      : name_(config.name),
        retry_(RetryPolicyOf(config.retry)),
        simulation_(deps.simulation),
        breaker_(config.name, BreakerConfigOf(config.breaker), deps.clock, deps.metrics),
        metrics_(config.name, deps.metrics) {}

  std::string_view name() const override { return name_; }

  asio::awaitable<absl::StatusOr<LlmResponse>> Complete(const LlmRequest& request) override {
    co_return Call(request);
  }

  asio::awaitable<absl::StatusOr<std::unique_ptr<LlmStream>>> Stream(
      const LlmRequest& request) override {
    absl::StatusOr<LlmResponse> r = Call(request);
    if (!r.ok()) co_return r.status();
    std::unique_ptr<LlmStream> stream = std::make_unique<OneShotStream>(*std::move(r));
    co_return stream;
  }

 private:
  absl::StatusOr<LlmResponse> Call(const LlmRequest& request) {
    const SimulatedCallPlan plan =
        simulation_ != nullptr ? simulation_->Plan(request.request_id) : SimulatedCallPlan{};
    const std::string_view id = request.request_id;
    const std::string_view model = request.model;
    absl::Duration elapsed;
    absl::Status failure;
    int attempt = 0;
    for (; attempt < retry_.max_attempts; ++attempt) {
      if (!breaker_.Allow()) {
        failure = http::WithUpstreamFailure(
            absl::UnavailableError(absl::StrCat("provider '", name_, "': circuit open")),
            http::UpstreamFailure::kCircuitOpen);
        break;
      }
      const std::string n = std::to_string(attempt);
      const bool fails =
          plan.error_permille > 0 && ScaleToRange(MixHash({id, model, n}, kFail), 1000) <
                                         static_cast<uint64_t>(plan.error_permille);
      if (!fails) {
        breaker_.RecordSuccess();
        LlmResponse out = Answer(request, plan);
        elapsed += out.latency;
        Elapse(out.latency);
        out.latency = elapsed;
        out.attempts = attempt + 1;
        metrics_.RecordCall(out.model, absl::OkStatus(), out.latency, out.usage, out.attempts);
        return out;
      }
      breaker_.RecordFailure();
      elapsed += kFailedAttemptLatency;
      Elapse(kFailedAttemptLatency);
      failure =
          http::WithUpstreamFailure(absl::UnavailableError(absl::StrCat(
                                        "provider '", name_, "': simulated brown-out (HTTP 503)")),
                                    http::UpstreamFailure::kHttpStatus);
      http::SetHttpStatus(failure, 503);
      if (attempt + 1 < retry_.max_attempts) {
        // Full jitter: uniform in [0, min(max_backoff, base * 2^attempt)].
        absl::Duration cap = retry_.base_backoff;
        for (int i = 0; i < attempt && cap < retry_.max_backoff; ++i) cap *= 2;
        cap = std::min(cap, retry_.max_backoff);
        const int64_t cap_us = absl::ToInt64Microseconds(cap);
        const absl::Duration wait = absl::Microseconds(static_cast<int64_t>(
            ScaleToRange(MixHash({id, model, n}, kBackoff), static_cast<uint64_t>(cap_us) + 1)));
        elapsed += wait;
        Elapse(wait);
      }
    }
    const int attempts = std::min(attempt + 1, retry_.max_attempts);
    const bool refused = http::UpstreamFailureOf(failure) == http::UpstreamFailure::kCircuitOpen;
    const int sent = refused ? attempt : attempts;
    metrics_.RecordCall(std::string(model), failure, elapsed, core::TokenUsage{}, sent);
    SetAttempts(failure, sent);
    return failure;
  }

  LlmResponse Answer(const LlmRequest& request, const SimulatedCallPlan& plan) const {
    const std::string_view id = request.request_id;
    int64_t wanted = 0;
    if (plan.output_tokens.has_value()) {
      wanted = std::max<int64_t>(*plan.output_tokens, 0);
    } else {
      // No ground truth: a draw keyed by the request, so every replay draws the same.
      const std::string_view key = id.empty() ? std::string_view(LastUserMessage(request)) : id;
      wanted = DrawAnswerLength(AnswerLengthsFor(plan.intent), MixHash({key}, kBand),
                                MixHash({key}, kValue));
    }
    const int64_t cap = request.max_tokens > 0 ? request.max_tokens : wanted;
    LlmResponse out;
    out.model = request.model.empty() ? std::string("simulated") : request.model;
    out.usage.input_tokens =
        RoughPromptTokens(request) + std::max<int64_t>(plan.extra_input_tokens, 0);
    out.usage.output_tokens = std::min(wanted, cap);
    out.finish_reason = wanted > cap ? "length" : "stop";
    out.text = absl::StrCat("[simulated ", out.model, " answer to ", core::ToAbsl(id), ": ",
                            out.usage.output_tokens, " tokens]");
    const LatencyModel lm = LatencyOf(out.model);
    const absl::Duration nominal = lm.first_token + lm.per_token * out.usage.output_tokens;
    // ±20%: a factor in [800, 1200] per mille.
    const int64_t permille = 800 + static_cast<int64_t>(ScaleToRange(MixHash({id}, kJitter), 401));
    out.latency = absl::Microseconds(absl::ToInt64Microseconds(nominal) * permille / 1000);
    return out;
  }

  static std::string_view LastUserMessage(const LlmRequest& request) {
    for (auto it = request.messages.rbegin(); it != request.messages.rend(); ++it) {
      if (it->role == Role::kUser) return it->content;
    }
    return {};
  }

  void Elapse(absl::Duration d) {
    if (simulation_ != nullptr && d > absl::ZeroDuration()) simulation_->Elapse(d);
  }

  const std::string name_;
  const http::RetryPolicy retry_;
  Simulation* const simulation_;
  http::CircuitBreaker breaker_;
  ProviderMetrics metrics_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Provider>> NewSimulatedProvider(const core::ProviderConfig& config,
                                                               const ProviderDeps& deps) {
  return std::make_unique<SimulatedProvider>(config, deps);
}

}  // namespace mangaassist::llm
