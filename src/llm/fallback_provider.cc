#include "llm/fallback_provider.h"

// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>

#include "llm/http_provider.h"

namespace mangaassist::llm {

namespace {

namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

// The stream of the target that answered, with the attempts of the targets before it added.
class FallbackStream final : public LlmStream {
 public:
  FallbackStream(std::unique_ptr<LlmStream> inner, int earlier_attempts)
      : inner_(std::move(inner)), earlier_attempts_(earlier_attempts) {}

  asio::awaitable<absl::StatusOr<std::optional<std::string>>> Next() override {
    absl::StatusOr<std::optional<std::string>> next = co_await inner_->Next();
    co_return next;
  }
  void Cancel() override { inner_->Cancel(); }
  const LlmResponse& Final() const override {
    final_ = inner_->Final();
    final_.attempts += earlier_attempts_;
    return final_;
  }

 private:
  std::unique_ptr<LlmStream> inner_;
  const int earlier_attempts_;
  mutable LlmResponse final_;  // refreshed by Final(); the stream has one owner
};

class FallbackProvider final : public Provider {
 public:
  FallbackProvider(std::string name, std::vector<FallbackTarget> chain, core::Registry* metrics)
      : name_(std::move(name)), chain_(std::move(chain)), metrics_(metrics) {}

  std::string_view name() const override { return name_; }

  asio::awaitable<absl::StatusOr<LlmResponse>> Complete(const LlmRequest& request) override {
    const SteadyClock::time_point end = EndOf(request);
    int attempts = 0;
    absl::Status last;
    for (size_t i = 0; i < chain_.size(); ++i) {
      std::optional<LlmRequest> attempt = RequestFor(request, i, end);
      if (!attempt.has_value()) break;  // no time left for another target
      absl::StatusOr<LlmResponse> response = co_await chain_[i].provider->Complete(*attempt);
      if (response.ok()) {
        response->model = chain_[i].model;
        response->attempts += attempts;
        co_return response;
      }
      attempts += AttemptsOf(response.status());
      last = response.status();
      if (!ShouldFallBack(last) || i + 1 == chain_.size()) break;
      CountFallback(i);
    }
    if (last.ok()) last = absl::DeadlineExceededError(name_ + ": no time left for the call");
    SetAttempts(last, attempts);
    co_return last;
  }

  asio::awaitable<absl::StatusOr<std::unique_ptr<LlmStream>>> Stream(
      const LlmRequest& request) override {
    const SteadyClock::time_point end = EndOf(request);
    int attempts = 0;
    absl::Status last;
    for (size_t i = 0; i < chain_.size(); ++i) {
      std::optional<LlmRequest> attempt = RequestFor(request, i, end);
      if (!attempt.has_value()) break;
      absl::StatusOr<std::unique_ptr<LlmStream>> stream =
          co_await chain_[i].provider->Stream(*attempt);
      if (stream.ok()) {
        if (attempts == 0) co_return stream;
        std::unique_ptr<LlmStream> wrapped =
            std::make_unique<FallbackStream>(*std::move(stream), attempts);
        co_return wrapped;
      }
      attempts += AttemptsOf(stream.status());
      last = stream.status();
      if (!ShouldFallBack(last) || i + 1 == chain_.size()) break;
      CountFallback(i);
    }
    if (last.ok()) last = absl::DeadlineExceededError(name_ + ": no time left for the call");
    SetAttempts(last, attempts);
    co_return last;
  }

 private:
  static SteadyClock::time_point EndOf(const LlmRequest& request) {
    if (request.timeout <= absl::ZeroDuration() || request.timeout >= absl::InfiniteDuration()) {
      return SteadyClock::time_point::max();
    }
    return SteadyClock::now() + absl::ToChronoNanoseconds(request.timeout);
  }

  // The request for target `i`, with what is left of the chain's time; nullopt when none is.
  std::optional<LlmRequest> RequestFor(const LlmRequest& request, size_t i,
                                       SteadyClock::time_point end) const {
    LlmRequest out = request;
    out.model = chain_[i].model;
    if (end != SteadyClock::time_point::max()) {
      const absl::Duration left = absl::FromChrono(end - SteadyClock::now());
      if (left <= absl::ZeroDuration()) return std::nullopt;
      out.timeout = left;
    }
    return out;
  }

  void CountFallback(size_t from) {
    if (metrics_ == nullptr) return;
    metrics_
        ->GetCounter("mangaassist_llm_fallbacks_total",
                     "Calls that moved on to the next model of a fallback chain.",
                     {{"chain", name_}, {"from_model", chain_[from].model}})
        .Inc();
  }

  const std::string name_;
  const std::vector<FallbackTarget> chain_;
  core::Registry* const metrics_;
};

}  // namespace

bool ShouldFallBack(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:        // connection, 5xx, 529, circuit open, malformed
    case absl::StatusCode::kDeadlineExceeded:   // timeouts (408/504 included)
    case absl::StatusCode::kResourceExhausted:  // 429 with the retries spent
    case absl::StatusCode::kDataLoss:           // an answer cut short
      return true;
    default:
      return false;  // bad request, auth, not found, cancelled by our client, ...
  }
}

absl::StatusOr<std::unique_ptr<Provider>> NewFallbackProvider(std::string name,
                                                              std::vector<FallbackTarget> chain,
                                                              core::Registry* metrics) {
  if (chain.empty()) return absl::InvalidArgumentError("fallback chain '" + name + "' is empty");
  for (const FallbackTarget& target : chain) {
    if (target.provider == nullptr || target.model.empty()) {
      return absl::InvalidArgumentError("fallback chain '" + name +
                                        "' has a target without provider or model");
    }
  }
  return std::make_unique<FallbackProvider>(std::move(name), std::move(chain), metrics);
}

absl::StatusOr<std::vector<FallbackTarget>> ResolveFallbackChain(
    std::string_view alias, const std::vector<core::ModelAliasConfig>& aliases,
    const std::map<std::string, Provider*, std::less<>>& providers) {
  auto find_alias = [&aliases](std::string_view name) -> const core::ModelAliasConfig* {
    for (const core::ModelAliasConfig& a : aliases) {
      if (a.name == name) return &a;
    }
    return nullptr;
  };
  const core::ModelAliasConfig* head = find_alias(alias);
  if (head == nullptr) {
    return absl::InvalidArgumentError("unknown model alias '" + std::string(alias) + "'");
  }
  std::vector<const core::ModelAliasConfig*> members = {head};
  for (const std::string& name : head->fallback) {
    const core::ModelAliasConfig* member = find_alias(name);
    if (member == nullptr) {
      return absl::InvalidArgumentError("model alias '" + head->name +
                                        "' falls back to unknown alias '" + name + "'");
    }
    members.push_back(member);
  }
  std::vector<FallbackTarget> chain;
  for (const core::ModelAliasConfig* member : members) {
    const auto it = providers.find(member->provider);
    if (it == providers.end() || it->second == nullptr) {
      return absl::InvalidArgumentError("model alias '" + member->name +
                                        "' names unknown provider '" + member->provider + "'");
    }
    bool duplicate = false;
    for (const FallbackTarget& t : chain) {
      duplicate = duplicate || (t.provider == it->second && t.model == member->model);
    }
    if (!duplicate) chain.push_back({it->second, member->model});
  }
  return chain;
}

}  // namespace mangaassist::llm
