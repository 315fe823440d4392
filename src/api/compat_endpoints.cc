// The drop-in endpoints: `POST /v1/chat/completions` (OpenAI), `POST /v1/messages` (Anthropic)
// and `GET /v1/models`. A request is translated into a RequestContext and runs the same
// pipeline as the native endpoint (admission, redaction, the call stage with its providers,
// fallback and cost), so a client of either SDK gets the gateway's limits and accounting
// unchanged. Streams go out as SSE through the server's ResponseWriter as the provider
// produces them; a client that leaves mid-stream cancels the upstream call (call stage).
//
// Cost: `x-mangaassist-cost-usd` (and `-nano-usd`) headers on non-streamed answers; a stream's
// cost is only known at its end, so it ends with an SSE comment line
// `: x-mangaassist-cost-usd=0.001244000` (SSE clients ignore comments).

#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "api/anthropic_compat.h"
#include "api/compat_json.h"
#include "api/gateway.h"
#include "api/openai_compat.h"
#include "core/delta_sink.h"
#include "core/status.h"
#include "llm/models.h"
#include "spdlog/spdlog.h"

namespace mangaassist::api {

namespace bhttp = boost::beast::http;

namespace {

enum class Dialect { kOpenAi, kAnthropic };

std::string ErrorBody(Dialect d, const absl::Status& status, std::string_view request_id) {
  return d == Dialect::kOpenAi ? OpenAiErrorJson(status, request_id)
                               : AnthropicErrorJson(status, request_id);
}

http::Response DialectError(Dialect d, const absl::Status& status, std::string_view request_id) {
  http::Response res = http::JsonResponse(core::HttpStatusFor(status.code()),
                                          ErrorBody(d, status, request_id));
  if (status.code() == absl::StatusCode::kResourceExhausted ||
      status.code() == absl::StatusCode::kUnavailable) {
    res.set(bhttp::field::retry_after, "1");
  }
  return res;
}

void FillContext(CompatRequest&& req, core::RequestContext* ctx) {
  ctx->compat = true;
  ctx->requested_model = std::move(req.model);
  ctx->user_id = std::move(req.user);
  ctx->system = std::move(req.llm.system);
  ctx->cache_system = req.llm.cache_system;
  std::vector<llm::Message>& msgs = req.llm.messages;
  // The parsers guarantee a final user message; the rest is history.
  if (!msgs.empty()) {
    ctx->message = std::move(msgs.back().content);
    msgs.pop_back();
  }
  ctx->history.reserve(msgs.size());
  for (llm::Message& m : msgs) {
    ctx->history.push_back(core::ChatTurn{m.role == llm::Role::kAssistant, std::move(m.content)});
  }
  ctx->max_tokens = req.llm.max_tokens;
  ctx->temperature = req.llm.temperature;
  ctx->top_p = req.llm.top_p;
  ctx->stop = std::move(req.llm.stop);
}

llm::LlmResponse ResponseOf(const core::RequestContext& ctx) {
  llm::LlmResponse r;
  r.text = ctx.answer;
  r.usage = ctx.usage;
  r.model = ctx.model;
  r.finish_reason = ctx.finish_reason.empty() ? "stop" : ctx.finish_reason;
  r.attempts = ctx.llm_attempts;
  return r;
}

void SetCostHeaders(const core::RequestContext& ctx, http::Response* res) {
  core::Money total = ctx.cost.Total();
  res->set("x-mangaassist-cost-usd", total.ToUsdString());
  res->set("x-mangaassist-cost-nano-usd", std::to_string(total.nanos()));
  res->set("x-mangaassist-route", std::string(core::RouteName(ctx.route)));
  if (!ctx.model.empty()) res->set("x-mangaassist-model", ctx.model);
}

std::string Quoted(std::string_view s) {
  std::string out;
  internal::AppendJsonString(&out, s);
  return out;
}

std::string CostComment(const core::RequestContext& ctx) {
  return absl::StrCat(": x-mangaassist-cost-usd=", ctx.cost.Total().ToUsdString(), "\n\n");
}

// Streams one answer in a dialect's SSE frames. The HTTP header goes out with the first delta,
// so a failure before any text still gets a proper status and JSON error body.
class SseSink final : public core::DeltaSink {
 public:
  SseSink(Dialect dialect, http::ResponseWriter* writer, const core::RequestContext& ctx,
          int64_t created)
      : dialect_(dialect),
        writer_(writer),
        ctx_(ctx),
        id_(dialect == Dialect::kOpenAi ? "chatcmpl-" + ctx.request_id : "msg_" + ctx.request_id),
        created_(created) {}

  boost::asio::awaitable<bool> OnDelta(std::string_view text) override {
    std::string frames;
    if (!writer_->started()) {
      if (!co_await Begin()) co_return false;
      frames = Opening();
    }
    frames += dialect_ == Dialect::kOpenAi ? OpenAiStreamDeltaChunk(id_, Model(), created_, text)
                                           : AnthropicStreamTextDelta(text);
    co_return co_await writer_->Write(frames);
  }

  // After the pipeline: the closing frames, or an in-band error once the stream has started.
  // Returns false when the stream never started and the pipeline failed (the caller answers
  // with a plain error response then).
  boost::asio::awaitable<bool> Finish(const absl::Status& status, bool include_usage) {
    if (!status.ok() && !writer_->started()) co_return false;
    if (ctx_.client_gone) co_return true;  // nobody to write to
    std::string frames;
    if (!writer_->started()) {
      if (!co_await Begin()) co_return true;
      frames = Opening();
    }
    if (!status.ok()) {
      frames += dialect_ == Dialect::kOpenAi ? OpenAiStreamError(status, ctx_.request_id)
                                             : AnthropicStreamError(status, ctx_.request_id);
    } else if (dialect_ == Dialect::kOpenAi) {
      frames += OpenAiStreamFinishChunk(id_, Model(), created_, ctx_.finish_reason);
      if (include_usage) frames += OpenAiStreamUsageChunk(id_, Model(), created_, ctx_.usage);
      frames += CostComment(ctx_);
      frames += OpenAiStreamDone();
    } else {
      frames += AnthropicStreamContentBlockStop();
      frames += AnthropicStreamMessageDelta(ctx_.finish_reason, ctx_.usage);
      frames += CostComment(ctx_);
      frames += AnthropicStreamMessageStop();
    }
    co_await writer_->Write(frames);
    co_return true;
  }

 private:
  boost::asio::awaitable<bool> Begin() {
    http::Response header{bhttp::status::ok, 11};
    header.set(bhttp::field::content_type, "text/event-stream; charset=utf-8");
    for (const auto& [name, value] : ctx_.response_headers) header.set(name, value);
    co_return co_await writer_->Begin(std::move(header));
  }

  // The call stage names the provider model before the first delta (ctx.model); the alias
  // asked for is only a backstop.
  std::string_view Model() const {
    return ctx_.model.empty() ? std::string_view(ctx_.requested_model) : ctx_.model;
  }

  std::string Opening() const {
    if (dialect_ == Dialect::kOpenAi) return OpenAiStreamRoleChunk(id_, Model(), created_);
    // Anthropic announces input usage up front; the provider's count arrives with the end, so
    // this is the calibrated pre-call estimate and message_delta carries the reported figures.
    core::TokenUsage estimate;
    estimate.input_tokens = ctx_.estimated_input_tokens;
    return AnthropicStreamMessageStart(id_, Model(), estimate) +
           AnthropicStreamContentBlockStart() + AnthropicStreamPing();
  }

  const Dialect dialect_;
  http::ResponseWriter* const writer_;
  const core::RequestContext& ctx_;
  const std::string id_;
  const int64_t created_;
};

}  // namespace

boost::asio::awaitable<http::Response> Gateway::Compat(http::Request& req, http::RequestInfo& info,
                                                       bool anthropic) {
  const Dialect dialect = anthropic ? Dialect::kAnthropic : Dialect::kOpenAi;
  core::RequestContext ctx;
  StartContext(req, info, &ctx);
  absl::StatusOr<CompatRequest> parsed =
      anthropic ? ParseAnthropicMessagesRequest(req.body(), config_->server.max_json_depth)
                : ParseOpenAiChatRequest(req.body(), config_->server.max_json_depth,
                                         config_->compat.default_max_tokens);
  if (!parsed.ok()) {
    chat_errors_->Inc();
    co_return DialectError(dialect, parsed.status(), info.request_id);
  }
  const bool stream = parsed->stream;
  const bool include_usage = parsed->include_usage;
  FillContext(*std::move(parsed), &ctx);
  const int64_t created = absl::ToUnixSeconds(absl::Now());

  if (!stream || info.writer == nullptr) {
    absl::Status status = co_await pipeline_->Run(ctx);
    if (!status.ok()) {
      chat_errors_->Inc();
      LogFailure(info.request_id, status);
      http::Response res = DialectError(dialect, status, info.request_id);
      ApplyHeaders(ctx, &res);
      co_return res;
    }
    llm::LlmResponse r = ResponseOf(ctx);
    http::Response res = http::JsonResponse(
        200, anthropic ? AnthropicMessageJson("msg_" + ctx.request_id, ctx.model, r)
                       : OpenAiChatResponseJson("chatcmpl-" + ctx.request_id, ctx.model, created, r));
    SetCostHeaders(ctx, &res);
    ApplyHeaders(ctx, &res);
    co_return res;
  }

  SseSink sink(dialect, info.writer, ctx, created);
  ctx.sink = &sink;
  absl::Status status = co_await pipeline_->Run(ctx);
  if (!status.ok()) {
    chat_errors_->Inc();
    LogFailure(info.request_id, status);
  }
  if (ctx.client_gone) {
    spdlog::info("[{}] client left mid-stream; model={} input={} output={} cost={} USD",
                 info.request_id, ctx.model, ctx.usage.input_tokens, ctx.usage.output_tokens,
                 ctx.cost.Total().ToUsdString());
  }
  if (!co_await sink.Finish(status, include_usage)) {
    http::Response res = DialectError(dialect, status, info.request_id);
    ApplyHeaders(ctx, &res);
    co_return res;
  }
  // Streamed: the server sends nothing more; the status labels the metrics.
  co_return http::Response{ctx.client_gone ? static_cast<bhttp::status>(499) : bhttp::status::ok,
                           11};
}

boost::asio::awaitable<http::Response> Gateway::ListModels(http::Request& req,
                                                           http::RequestInfo&) {
  std::vector<std::string> names = services_->models->Names();
  // Anthropic's SDK sends anthropic-version and expects its own list shape.
  if (req.find("anthropic-version") != req.end()) {
    std::string out = "{\"data\":[";
    for (size_t i = 0; i < names.size(); ++i) {
      std::string quoted = Quoted(names[i]);
      absl::StrAppend(&out, i ? "," : "", "{\"type\":\"model\",\"id\":", quoted,
                      ",\"display_name\":", quoted, ",\"created_at\":\"2024-01-01T00:00:00Z\"}");
    }
    absl::StrAppend(&out, "],\"has_more\":false,\"first_id\":",
                    names.empty() ? "null" : Quoted(names.front()), ",\"last_id\":",
                    names.empty() ? "null" : Quoted(names.back()), "}");
    co_return http::JsonResponse(200, std::move(out));
  }
  co_return http::JsonResponse(200, OpenAiModelsJson(names, started_unix_));
}

void Gateway::LogFailure(const std::string& request_id, const absl::Status& status) const {
  if (core::HttpStatusFor(status.code()) >= 500) {
    spdlog::error("[{}] chat failed: {}", request_id, status.ToString());
  } else {
    spdlog::debug("[{}] chat refused: {}", request_id, status.ToString());
  }
}

}  // namespace mangaassist::api
