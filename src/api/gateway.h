// Gateway: the HTTP face of the pipeline. Owns the services, the pipeline and the router with
// every endpoint (SPEC §3): POST /v1/chat, the drop-in POST /v1/chat/completions (OpenAI) and
// POST /v1/messages (Anthropic), GET /v1/models, /healthz, /readyz, /metrics, and the admin
// endpoints behind AdminAuth (POST /admin/cache/invalidate, GET /admin/kpi, GET/PUT
// /admin/flags, GET /admin/audit). Created once at
// start-up; handlers are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on
#include <boost/asio/thread_pool.hpp>

#include "absl/status/statusor.h"
#include "api/admin_auth.h"
#include "api/idempotency.h"
#include "core/config.h"
#include "core/metrics.h"
#include "http/router.h"
#include "pipeline/pipeline.h"
#include "pipeline/services.h"

namespace mangaassist::api {

class Gateway {
 public:
  // `config`, `metrics` and `clock` must outlive the gateway.
  static absl::StatusOr<std::unique_ptr<Gateway>> Create(const core::Config* config,
                                                         core::Registry* metrics,
                                                         const core::Clock* clock);

  http::Handler* handler() { return &router_; }
  const pipeline::Pipeline& pipeline() const { return *pipeline_; }
  // /readyz answers 503 until ready and again while draining.
  void SetReady(bool ready) { ready_.store(ready); }

 private:
  Gateway() = default;
  void AddRoutes();
  // POST /v1/*: `fn` under the request's Idempotency-Key (api/idempotency.h).
  boost::asio::awaitable<http::Response> Idempotent(http::Request& req, http::RequestInfo& info,
                                                    const http::HandlerFn& fn);
  boost::asio::awaitable<http::Response> Chat(http::Request& req, http::RequestInfo& info);
  // compat_endpoints.cc: /v1/chat/completions (anthropic = false), /v1/messages (true).
  boost::asio::awaitable<http::Response> Compat(http::Request& req, http::RequestInfo& info,
                                                bool anthropic);
  boost::asio::awaitable<http::Response> ListModels(http::Request& req, http::RequestInfo& info);
  // admin_endpoints.cc: POST /admin/cache/invalidate.
  boost::asio::awaitable<http::Response> InvalidateCache(http::Request& req, http::RequestInfo& info);
  // GET /admin/kpi?from=&to=&format=json|text|html: the Unified KPI Rollup (US-07/US-08).
  boost::asio::awaitable<http::Response> Kpi(http::Request& req, http::RequestInfo& info);
  // GET /admin/budget: the day's caps, spend, holds, level and velocity (US-08).
  boost::asio::awaitable<http::Response> Budget(http::Request& req, http::RequestInfo& info);
  // flags_endpoints.cc: GET /admin/flags, PUT /admin/flags, GET /admin/audit (US-08).
  boost::asio::awaitable<http::Response> GetFlags(http::Request& req, http::RequestInfo& info);
  boost::asio::awaitable<http::Response> PutFlags(http::Request& req, http::RequestInfo& info);
  boost::asio::awaitable<http::Response> GetAudit(http::Request& req, http::RequestInfo& info);
  // The admin check's response, or nullopt when the request may proceed.
  std::optional<http::Response> AdminDenied(const http::Request& req,
                                            const http::RequestInfo& info) const;
  http::Response Readiness() const;
  void LogFailure(const std::string& request_id, const absl::Status& status) const;
  // The request's identity from the HTTP request (API key, client IP, ids) into a context.
  static void StartContext(const http::Request& req, const http::RequestInfo& info,
                           core::RequestContext* ctx);
  // The headers stages asked for (RateLimit-*, Retry-After) onto a response.
  static void ApplyHeaders(const core::RequestContext& ctx, http::Response* res);

  const core::Config* config_ = nullptr;
  core::Registry* metrics_ = nullptr;
  std::unique_ptr<pipeline::Services> services_;
  std::unique_ptr<pipeline::Pipeline> pipeline_;
  http::Router router_;
  std::atomic<bool> ready_{false};
  AdminAuth admin_auth_;
  std::unique_ptr<Idempotency> idempotency_;
  // Blocking admin work (report queries against SQLite or PostgreSQL) runs here, never on the
  // threads serving chats.
  std::unique_ptr<boost::asio::thread_pool> admin_pool_ =
      std::make_unique<boost::asio::thread_pool>(1);
  core::Counter* chat_errors_ = nullptr;
  int64_t started_unix_ = 0;
};

}  // namespace mangaassist::api
