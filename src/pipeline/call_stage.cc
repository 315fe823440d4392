// The `call` stage (SPEC §2, stage 11): asks a model for the answer. The model is the client's
// (`requested_model`, compatible endpoints) or the tier's (`call.*_model`, native); either names
// an alias whose provider chain handles retries, deadlines, the circuit breaker and fallback.
// With a sink the answer streams to the client as it comes; a client that leaves mid-stream
// cancels the upstream call, and what it consumed is still accounted. The context always ends
// with the model, usage, finish reason and cost lines of whatever was consumed — on success,
// on failure and on cancellation — so settling and recording never lose a call.

#include <algorithm>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/delta_sink.h"
#include "core/metrics.h"
#include "core/pricing.h"
#include "core/strings.h"
#include "llm/extractive/extractive_responder.h"
#include "llm/models.h"
#include "llm/provider.h"
#include "llm/token_estimator.h"
#include "pipeline/call_plan.h"
#include "pipeline/stage_registry.h"

namespace mangaassist::pipeline {
namespace {

// The stage's metrics, declared together; per answered model, created at start-up.
struct CallMetrics {
  struct PerModel {
    core::Counter* cost_nanos = nullptr;     // mangaassist_llm_cost_nano_usd_total{model}
    core::Counter* client_gone = nullptr;    // mangaassist_llm_client_gone_total{model}
  };
  std::map<std::string, PerModel, std::less<>> by_model;
  PerModel other;

  CallMetrics(core::Registry* r, const llm::Models& models) {
    if (r == nullptr) return;
    auto make = [r](const std::string& model) {
      return PerModel{
          &r->GetCounter("mangaassist_llm_cost_nano_usd_total",
                         "LLM cost of answered and cut calls, nano-USD, by answering model",
                         {{"model", model}}),
          &r->GetCounter("mangaassist_llm_client_gone_total",
                         "Streams whose client disconnected mid-answer (upstream cancelled)",
                         {{"model", model}})};
    };
    for (const std::string& name : models.Names()) {
      if (const llm::ModelEntry* e = models.Find(name); e != nullptr && !e->is_alias) {
        by_model.emplace(name, make(name));
      }
    }
    other = make("other");
  }

  const PerModel& For(std::string_view model) const {
    auto it = by_model.find(model);
    return it == by_model.end() ? other : it->second;
  }
};

void Inc(core::Counter* c, int64_t n = 1) {
  if (c != nullptr && n > 0) c->Inc(n);
}

class CallStage final : public Stage {
 public:
  CallStage(const core::CallConfig& config, const llm::Models* models,
            llm::TokenEstimator* estimator, const llm::ExtractiveResponder* responder,
            core::Registry* metrics)
      : config_(config),
        models_(models),
        estimator_(estimator),
        responder_(responder),
        metrics_(metrics, *models) {}
  std::string_view name() const override { return "call"; }

  boost::asio::awaitable<absl::Status> Run(core::RequestContext& ctx) override {
    if (!ctx.traffic.llm_allowed) co_return co_await AnswerWithoutModel(ctx);
    std::string_view wanted = CallAlias(config_, ctx);
    const llm::ModelEntry* entry = models_->Find(wanted);
    if (entry == nullptr) {
      co_return absl::NotFoundError(absl::StrCat("model '", core::ToAbsl(wanted),
                                                 "' is not configured (GET /v1/models lists "
                                                 "the models of this gateway)"));
    }
    if (ctx.temperature.has_value() && *ctx.temperature > entry->max_temperature) {
      co_return absl::InvalidArgumentError(absl::StrCat(
          "'temperature' ", *ctx.temperature, " is above ", entry->max_temperature,
          ", the highest that model '", core::ToAbsl(wanted), "' accepts (Claude models: 0 to 1)"));
    }
    llm::LlmRequest request = BuildLlmRequest(config_, ctx, *entry);
    ctx.provider = entry->provider_name;
    // `reserve` already estimated this very request when it sized the hold for this alias.
    if (ctx.traffic.alias.empty()) {
      ctx.estimated_input_tokens = estimator_->EstimatePrompt(request, ctx.lang);
    }
    if (ctx.sink == nullptr) {
      absl::StatusOr<llm::LlmResponse> r = co_await entry->provider->Complete(request);
      if (!r.ok()) {
        ctx.model = entry->model;
        ctx.finish_reason = "error";
        co_return r.status();
      }
      Account(ctx, *entry, *r);
      ctx.answer = std::move(r->text);
      ctx.answered = true;
      co_return absl::OkStatus();
    }
    co_return co_await RunStreaming(ctx, *entry, request);
  }

 private:
  // US-08 at the cap (or level 3, or a guest at level 2): the native endpoint answers from
  // templates and the catalog at zero LLM cost; a drop-in client, which asked for a model's
  // answer, gets a 429 it can act on.
  boost::asio::awaitable<absl::Status> AnswerWithoutModel(core::RequestContext& ctx) const {
    const std::string why = ctx.traffic.over_budget
                                ? "the daily LLM budget is spent"
                                : absl::StrCat("cost degradation level ", ctx.degraded_level,
                                               " allows no model call for this tier");
    if (ctx.compat || responder_ == nullptr) {
      ctx.response_headers.emplace_back("Retry-After", "60");
      co_return absl::ResourceExhaustedError(
          absl::StrCat(why, "; retry later (the budget day resets at local midnight)"));
    }
    llm::ExtractiveAnswer answer = responder_->Answer(ctx.message, ctx.lang);
    ctx.answer = std::move(answer.text);
    ctx.route = core::Route::kExtractive;
    ctx.model = "extractive";
    ctx.finish_reason = "stop";
    if (ctx.sink != nullptr && !co_await ctx.sink->OnDelta(ctx.answer)) {
      ctx.client_gone = true;
      ctx.finish_reason = "cancelled";
      co_return absl::CancelledError("the client went away mid-stream");
    }
    ctx.answered = true;
    co_return absl::OkStatus();
  }

  boost::asio::awaitable<absl::Status> RunStreaming(core::RequestContext& ctx,
                                                    const llm::ModelEntry& entry,
                                                    const llm::LlmRequest& request) {
    absl::StatusOr<std::unique_ptr<llm::LlmStream>> opened =
        co_await entry.provider->Stream(request);
    if (!opened.ok()) {
      ctx.model = entry.model;
      ctx.finish_reason = "error";
      co_return opened.status();
    }
    llm::LlmStream& stream = **opened;
    // Named before the first delta, so every frame of the stream carries the same model.
    ctx.model = stream.Final().model.empty() ? entry.model : stream.Final().model;
    std::string text;
    for (;;) {
      absl::StatusOr<std::optional<std::string>> delta = co_await stream.Next();
      if (!delta.ok()) {
        // Cut mid-answer: what streamed so far was consumed (and delivered); account it.
        Account(ctx, entry, stream.Final());
        ctx.answer = std::move(text);
        ctx.finish_reason = "error";
        co_return delta.status();
      }
      if (!delta->has_value()) break;
      text += **delta;
      bool delivered = co_await ctx.sink->OnDelta(**delta);
      if (!delivered) {
        stream.Cancel();
        ctx.client_gone = true;
        Account(ctx, entry, stream.Final());
        Inc(metrics_.For(ctx.model).client_gone);
        ctx.answer = std::move(text);
        ctx.finish_reason = "cancelled";
        co_return absl::CancelledError("the client went away mid-stream");
      }
    }
    Account(ctx, entry, stream.Final());
    ctx.answer = std::move(text);
    ctx.answered = true;
    co_return absl::OkStatus();
  }

  // Usage, model, route and cost lines of what the call consumed.
  void Account(core::RequestContext& ctx, const llm::ModelEntry& entry,
               const llm::LlmResponse& r) const {
    ctx.model = r.model.empty() ? entry.model : r.model;
    ctx.usage = r.usage;
    ctx.finish_reason = r.finish_reason;
    ctx.llm_attempts = r.attempts;
    // After a fallback the route is the answering model's, not the one asked for.
    const llm::ModelEntry* answered = models_->Find(ctx.model);
    ctx.route = answered != nullptr ? answered->route : entry.route;
    // A complete provider-reported count teaches the estimator its error on this traffic.
    if (r.finish_reason != "error" && !ctx.client_gone && ctx.route != core::Route::kExtractive &&
        r.usage.input_tokens > 0) {
      estimator_->Observe(ctx.lang, ctx.estimated_input_tokens,
                          r.usage.input_tokens + r.usage.cache_read_tokens +
                              r.usage.cache_write_tokens);
    }
    llm::PricedUsage priced = models_->Price(ctx.model, r.usage);
    ctx.cost.Add(core::CostComponent::kLlmInput, priced.cost.input);
    ctx.cost.Add(core::CostComponent::kLlmOutput, priced.cost.output);
    ctx.cost.Add(core::CostComponent::kLlmCacheRead, priced.cost.cache_read);
    ctx.cost.Add(core::CostComponent::kLlmCacheWrite, priced.cost.cache_write);
    Inc(metrics_.For(ctx.model).cost_nanos, priced.cost.Total().nanos());
  }

  const core::CallConfig config_;
  const llm::Models* models_;
  llm::TokenEstimator* estimator_;
  const llm::ExtractiveResponder* responder_;  // answers without a model (US-08)
  CallMetrics metrics_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Stage>> MakeCallStage(Services* services) {
  if (services->models == nullptr) return absl::FailedPreconditionError("no models are configured");
  return std::make_unique<CallStage>(services->config->call, services->models.get(),
                                     services->token_estimator.get(),
                                     services->responder.get(), services->metrics);
}

}  // namespace mangaassist::pipeline
