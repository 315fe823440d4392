#include "api/gateway.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "api/chat_request.h"
#include "cache/cache.h"
#include "core/status.h"
#include "core/strings.h"
#include "nlohmann/json.hpp"
#include "telemetry/recorder.h"
#include "spdlog/spdlog.h"

#ifndef MANGAASSIST_VERSION
#define MANGAASSIST_VERSION "dev"
#endif

namespace mangaassist::api {

namespace bhttp = boost::beast::http;

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Create(const core::Config* config,
                                                         core::Registry* metrics,
                                                         const core::Clock* clock) {
  std::unique_ptr<Gateway> g(new Gateway());
  g->config_ = config;
  g->metrics_ = metrics;
  auto services = pipeline::Services::Create(config, metrics, clock);
  if (!services.ok()) return services.status();
  g->services_ = std::move(*services);
  auto p = pipeline::Pipeline::Build(g->services_.get());
  if (!p.ok()) return p.status();
  g->pipeline_ = std::move(*p);
  auto admin = AdminAuth::Create(config->admin.keys_sha256);
  if (!admin.ok()) return admin.status();
  g->admin_auth_ = *std::move(admin);
  g->idempotency_ =
      std::make_unique<Idempotency>(config->idempotency, g->services_->cache.get());
  g->chat_errors_ = &metrics->GetCounter("mangaassist_chat_errors_total",
                                         "Chat requests that ended in an error.");
  metrics->GetGauge("mangaassist_build_info", "Build information.",
                    {{"version", MANGAASSIST_VERSION}})
      .Set(1);
  g->started_unix_ = absl::ToUnixSeconds(absl::Now());
  g->AddRoutes();
  return g;
}

void Gateway::AddRoutes() {
  auto idempotent = [this](http::HandlerFn fn) {
    return [this, fn = std::move(fn)](http::Request& req, http::RequestInfo& info) {
      return Idempotent(req, info, fn);
    };
  };
  router_.Add(bhttp::verb::post, "/v1/chat",
              idempotent([this](http::Request& req, http::RequestInfo& info) {
                return Chat(req, info);
              }));
  router_.Add(bhttp::verb::post, "/v1/chat/completions",
              idempotent([this](http::Request& req, http::RequestInfo& info) {
                return Compat(req, info, /*anthropic=*/false);
              }));
  router_.Add(bhttp::verb::post, "/v1/messages",
              idempotent([this](http::Request& req, http::RequestInfo& info) {
                return Compat(req, info, /*anthropic=*/true);
              }));
  router_.Add(bhttp::verb::get, "/v1/models",
              [this](http::Request& req, http::RequestInfo& info) { return ListModels(req, info); });
  router_.Add(bhttp::verb::get, "/healthz",
              [](http::Request&, http::RequestInfo&) -> boost::asio::awaitable<http::Response> {
                co_return http::JsonResponse(200, R"({"status":"ok"})");
              });
  router_.Add(bhttp::verb::get, "/readyz",
              [this](http::Request&, http::RequestInfo&) -> boost::asio::awaitable<http::Response> {
                co_return Readiness();
              });
  router_.Add(bhttp::verb::post, "/admin/cache/invalidate",
              [this](http::Request& req, http::RequestInfo& info) {
                return InvalidateCache(req, info);
              });
  router_.Add(bhttp::verb::get, "/admin/kpi",
              [this](http::Request& req, http::RequestInfo& info) { return Kpi(req, info); });
  router_.Add(bhttp::verb::get, "/admin/budget",
              [this](http::Request& req, http::RequestInfo& info) { return Budget(req, info); });
  router_.Add(bhttp::verb::get, "/admin/flags",
              [this](http::Request& req, http::RequestInfo& info) { return GetFlags(req, info); });
  router_.Add(bhttp::verb::put, "/admin/flags",
              [this](http::Request& req, http::RequestInfo& info) { return PutFlags(req, info); });
  router_.Add(bhttp::verb::get, "/admin/audit",
              [this](http::Request& req, http::RequestInfo& info) { return GetAudit(req, info); });
  router_.Add(bhttp::verb::get, "/metrics",
              [this](http::Request&, http::RequestInfo&) -> boost::asio::awaitable<http::Response> {
                http::Response res{bhttp::status::ok, 11};
                res.set(bhttp::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
                res.body() = metrics_->RenderText();
                co_return res;
              });
}

// 503 before start-up completes, while draining, and while cost events are refused; a cache
// keyspace whose Redis is down is reported in `cache` but keeps the replica ready (its fallback
// answers, and a cache never fails a chat).
http::Response Gateway::Readiness() const {
  nlohmann::json body;
  int status = 200;
  if (!ready_.load()) {
    status = 503;
    body["status"] = "not_ready";
  } else if (services_->recorder != nullptr && services_->recorder->degraded()) {
    // Cost events are being refused: take this replica out of rotation.
    status = 503;
    body["status"] = "degraded";
    body["reason"] = "telemetry spool refuses cost events";
  } else {
    body["status"] = "ready";
  }
  if (services_->cache != nullptr) {
    nlohmann::json cache = nlohmann::json::object();
    for (const cache::KeyspaceHealth& h : services_->cache->Health()) {
      nlohmann::json k = {{"backend", h.backend}, {"up", h.up}};
      if (!h.fallback.empty()) k["fallback"] = h.fallback;
      cache[std::string(cache::KeyspaceName(h.keyspace))] = std::move(k);
    }
    body["cache"] = std::move(cache);
  }
  return http::JsonResponse(status, body.dump());
}

boost::asio::awaitable<http::Response> Gateway::Idempotent(http::Request& req,
                                                           http::RequestInfo& info,
                                                           const http::HandlerFn& fn) {
  Idempotency::Claim claim;
  if (std::optional<http::Response> early = idempotency_->Begin(req, info, &claim)) {
    co_return *std::move(early);
  }
  http::Response res = co_await fn(req, info);
  idempotency_->Finish(claim, res, info.writer != nullptr && info.writer->started());
  co_return res;
}

void Gateway::StartContext(const http::Request& req, const http::RequestInfo& info,
                           core::RequestContext* ctx) {
  ctx->request_id = info.request_id;
  ctx->client_ip = info.remote_ip;
  ctx->start_mono_ns = info.start_mono_ns;
  // The credential: X-Api-Key (Anthropic's SDK) or Authorization: Bearer (OpenAI's).
  if (auto it = req.find("x-api-key"); it != req.end()) {
    ctx->api_key = std::string(it->value());
  } else if (auto auth = req.find(bhttp::field::authorization); auth != req.end()) {
    std::string_view v = auth->value();
    if (v.size() > 7 && absl::EqualsIgnoreCase(core::ToAbsl(v.substr(0, 7)), "bearer ")) {
      ctx->api_key = std::string(v.substr(7));
    }
  }
}

void Gateway::ApplyHeaders(const core::RequestContext& ctx, http::Response* res) {
  for (const auto& [name, value] : ctx.response_headers) res->set(name, value);
}

boost::asio::awaitable<http::Response> Gateway::Chat(http::Request& req, http::RequestInfo& info) {
  core::RequestContext ctx;
  StartContext(req, info, &ctx);
  absl::Status status = ParseChatRequest(req.body(), config_->server.max_json_depth, &ctx);
  if (status.ok()) status = co_await pipeline_->Run(ctx);
  if (!status.ok()) {
    chat_errors_->Inc();
    LogFailure(info.request_id, status);
    http::Response res = http::ErrorResponse(status, info.request_id);
    ApplyHeaders(ctx, &res);
    co_return res;
  }
  if (config_->log.access_log) {
    spdlog::info("[{}] chat route={} lang={}", info.request_id, core::RouteName(ctx.route),
                 core::LangName(ctx.lang));
  }
  http::Response res = http::JsonResponse(200, ChatResponseJson(ctx));
  ApplyHeaders(ctx, &res);
  co_return res;
}

}  // namespace mangaassist::api
