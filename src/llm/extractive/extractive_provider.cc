#include "llm/extractive/extractive_provider.h"

// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>

#include "core/language.h"
#include "llm/extractive/extractive_responder.h"
#include "llm/one_shot_stream.h"
#include "llm/provider_metrics.h"
#include "llm/token_count.h"

namespace mangaassist::llm {

namespace {

namespace asio = boost::asio;

constexpr char kDefaultModel[] = "extractive";

class ExtractiveProvider final : public Provider {
 public:
  ExtractiveProvider(const core::ProviderConfig& config, const ProviderDeps& deps)
      : name_(config.name),
        responder_(deps.extractive),
        clock_(deps.clock),
        metrics_(config.name, deps.metrics) {}

  std::string_view name() const override { return name_; }

  asio::awaitable<absl::StatusOr<LlmResponse>> Complete(const LlmRequest& request) override {
    co_return Answer(request);
  }

  asio::awaitable<absl::StatusOr<std::unique_ptr<LlmStream>>> Stream(
      const LlmRequest& request) override {
    std::unique_ptr<LlmStream> stream = std::make_unique<OneShotStream>(Answer(request));
    co_return stream;
  }

 private:
  LlmResponse Answer(const LlmRequest& request) {
    const int64_t start = clock_->MonotonicNanos();
    std::string_view question;
    for (auto it = request.messages.rbegin(); it != request.messages.rend(); ++it) {
      if (it->role == Role::kUser) {
        question = it->content;
        break;
      }
    }
    const ExtractiveAnswer answer = responder_->Answer(question, core::DetectLanguage(question));
    LlmResponse out;
    out.text = answer.text;
    out.model = request.model.empty() ? kDefaultModel : request.model;
    out.finish_reason = "stop";
    out.usage.input_tokens = RoughPromptTokens(request);
    out.usage.output_tokens = RoughTokenCount(out.text);
    out.latency = absl::Nanoseconds(clock_->MonotonicNanos() - start);
    metrics_.RecordCall(out.model, absl::OkStatus(), out.latency, out.usage, 0);
    return out;
  }

  const std::string name_;
  const ExtractiveResponder* const responder_;
  const core::Clock* const clock_;
  ProviderMetrics metrics_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Provider>> NewExtractiveProvider(const core::ProviderConfig& config,
                                                                const ProviderDeps& deps) {
  if (deps.extractive == nullptr) {
    return absl::FailedPreconditionError("provider '" + config.name +
                                         "': the extractive responder is not loaded");
  }
  return std::make_unique<ExtractiveProvider>(config, deps);
}

}  // namespace mangaassist::llm
