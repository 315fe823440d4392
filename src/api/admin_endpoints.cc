// The admin endpoints (SPEC §3), each behind AdminAuth:
//   GET /admin/kpi?from=&to=&format=json|text|html — the Unified KPI Rollup from the stored
//     hourly rollups (US-07), the last 24 hours by default; from/to as RFC 3339 or unix ms.
//   POST /admin/cache/invalidate — drop cached entries (US-03) by
//     {"keyspace": "llmresp"}                        the whole keyspace
//     {"keyspace": "product", "prefix": "isbn:97"}   keys of a keyspace starting with a prefix
//     {"model": "claude-3-5-haiku-20241022"}          every cached answer of a model (an alias
//                                                     name resolves to its model id)
//   → 200 {"deleted": N, "keyspace": ..., "prefix": ...}; 503 when a keyspace's Redis is down
//   (the invalidation did not reach it: retry), 400 for a malformed body.
//   GET /admin/budget — today's budget day (budget.time_zone): each cap's spend, holds in
//     flight and what is left, the degradation level, spend velocity, store and ledger (US-08).
// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <optional>
#include <string>

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/this_coro.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "api/gateway.h"
#include "cache/cache.h"
#include "cache/response_key.h"
#include "control/traffic.h"
#include "core/status.h"
#include "core/strings.h"
#include "http/query.h"
#include "llm/models.h"
#include "nlohmann/json.hpp"
#include "pipeline/intent_kpi.h"
#include "spdlog/spdlog.h"
#include "telemetry/kpi_source.h"

namespace mangaassist::api {

std::optional<http::Response> Gateway::AdminDenied(const http::Request& req,
                                                   const http::RequestInfo& info) const {
  absl::Status auth = admin_auth_.Check(req);
  if (auth.ok()) return std::nullopt;
  http::Response res = http::ErrorResponse(auth, info.request_id);
  if (auth.code() == absl::StatusCode::kUnauthenticated) {
    res.set(boost::beast::http::field::www_authenticate, "Bearer");
  }
  return res;
}

boost::asio::awaitable<http::Response> Gateway::Kpi(http::Request& req, http::RequestInfo& info) {
  if (auto denied = AdminDenied(req, info)) co_return *std::move(denied);
  auto bad = [&info](std::string message) {
    return http::ErrorResponse(absl::InvalidArgumentError(std::move(message)), info.request_id);
  };
  auto query = http::ParseQuery(req.target());
  if (!query.ok()) co_return bad(std::string(query.status().message()));
  for (const auto& [name, value] : *query) {
    if (name != "from" && name != "to" && name != "format") {
      co_return bad(absl::StrCat("unknown parameter '", name, "' (use from, to, format)"));
    }
  }
  int64_t to_ms = absl::ToUnixMillis(services_->clock->Now());
  if (auto it = query->find("to"); it != query->end()) {
    auto when = telemetry::ParseReportTime(it->second);
    if (!when.ok()) co_return bad(absl::StrCat("to: ", when.status().message()));
    to_ms = *when;
  }
  int64_t from_ms = to_ms - telemetry::kMillisPerDay;
  if (auto it = query->find("from"); it != query->end()) {
    auto when = telemetry::ParseReportTime(it->second);
    if (!when.ok()) co_return bad(absl::StrCat("from: ", when.status().message()));
    from_ms = *when;
  }
  if (from_ms >= to_ms) co_return bad("'from' must be before 'to'");
  std::string format = "json";
  if (auto it = query->find("format"); it != query->end()) format = it->second;
  if (format != "json" && format != "text" && format != "html") {
    co_return bad(absl::StrCat("format '", format, "' is not one of json|text|html"));
  }
  const core::TelemetryConfig& t = config_->telemetry;
  if (t.sink == "redis" && t.report_postgres.empty()) {
    co_return http::ErrorResponse(
        absl::FailedPreconditionError("the events are in PostgreSQL (telemetry.sink: redis); set "
                                      "telemetry.report_postgres to read them"),
        info.request_id);
  }

  // The queries block: run them on the admin thread, then come back.
  auto home = co_await boost::asio::this_coro::executor;
  co_await boost::asio::post(*admin_pool_, boost::asio::use_awaitable);
  absl::StatusOr<telemetry::KpiReport> report = [&]() -> absl::StatusOr<telemetry::KpiReport> {
    auto sink = telemetry::OpenReportSink(*config_, t.sink == "redis" ? t.report_postgres : "");
    // No database yet: nothing has been recorded, which is a report with no requests.
    // US-02's classifier figures, with the live drift windows.
    std::optional<telemetry::IntentKpiInputs> intent;
    if (services_->intent != nullptr && services_->baseline != nullptr) {
      auto in =
          pipeline::IntentKpiInputsFor(*config_, *services_->intent, services_->intent_drift.get(),
                                       *services_->baseline, *services_->prices);
      if (in.ok()) intent = *std::move(in);
    }
    const telemetry::IntentKpiInputs* in = intent.has_value() ? &*intent : nullptr;
    if (absl::IsNotFound(sink.status())) {
      return telemetry::ComputeKpi({}, config_->pipeline.stages, from_ms, to_ms, in);
    }
    if (!sink.ok()) return sink.status();
    return telemetry::LoadKpiReport(**sink, *config_, from_ms, to_ms, in);
  }();
  co_await boost::asio::post(home, boost::asio::use_awaitable);
  if (!report.ok()) {
    spdlog::warn("[{}] admin: kpi: {}", info.request_id, report.status().ToString());
    co_return http::ErrorResponse(report.status(), info.request_id);
  }
  if (format == "json") co_return http::JsonResponse(200, telemetry::KpiJson(*report));
  http::Response res{boost::beast::http::status::ok, 11};
  res.set(boost::beast::http::field::content_type,
          format == "html" ? "text/html; charset=utf-8" : "text/plain; charset=utf-8");
  res.body() = format == "html" ? telemetry::KpiHtml(*report) : telemetry::KpiText(*report);
  co_return res;
}

boost::asio::awaitable<http::Response> Gateway::InvalidateCache(http::Request& req,
                                                                http::RequestInfo& info) {
  if (auto denied = AdminDenied(req, info)) co_return *std::move(denied);
  auto bad = [&info](std::string message) {
    return http::ErrorResponse(absl::InvalidArgumentError(std::move(message)), info.request_id);
  };
  nlohmann::json body = nlohmann::json::parse(req.body(), nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) co_return bad("the body must be a JSON object");
  for (const auto& [k, v] : body.items()) {
    if (k != "keyspace" && k != "prefix" && k != "model") {
      co_return bad(absl::StrCat("unknown field '", k, "' (use keyspace, prefix or model)"));
    }
    if (!v.is_string()) co_return bad(absl::StrCat("field '", k, "' must be a string"));
  }
  std::string keyspace_name = body.value("keyspace", "");
  std::string prefix = body.value("prefix", "");
  const std::string model = body.value("model", "");
  if (!model.empty()) {
    if (!keyspace_name.empty() && keyspace_name != "llmresp") {
      co_return bad("'model' invalidates the response cache: keyspace must be llmresp or absent");
    }
    if (!prefix.empty()) co_return bad("give either 'model' or 'prefix', not both");
    std::string id = model;
    if (const llm::ModelEntry* e = services_->models->Find(model); e != nullptr) id = e->model;
    const auto& versions = config_->cache.response.model_versions;
    auto v = versions.find(id);
    prefix = cache::ResponseCacheModelPrefix(id, v == versions.end() ? "" : v->second);
    keyspace_name = "llmresp";
  }
  if (keyspace_name.empty()) co_return bad("'keyspace' or 'model' is required");
  std::optional<cache::Keyspace> ks = cache::ParseKeyspace(keyspace_name);
  if (!ks.has_value()) {
    co_return bad(absl::StrCat("unknown keyspace '", keyspace_name,
                               "' (llmresp, intent_sess, product, reco, promo, emb, rate, cost)"));
  }
  absl::StatusOr<int64_t> deleted = services_->cache->DeletePrefix(*ks, prefix);
  spdlog::warn("[{}] admin: cache invalidate keyspace={} prefix='{}'{} -> {}", info.request_id,
               keyspace_name, prefix, model.empty() ? "" : " model=" + model,
               deleted.ok() ? std::to_string(*deleted) : deleted.status().ToString());
  if (!deleted.ok()) co_return http::ErrorResponse(deleted.status(), info.request_id);
  nlohmann::json out = {{"deleted", *deleted}, {"keyspace", keyspace_name}, {"prefix", prefix}};
  co_return http::JsonResponse(200,
                               out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

boost::asio::awaitable<http::Response> Gateway::Budget(http::Request& req,
                                                       http::RequestInfo& info) {
  if (auto denied = AdminDenied(req, info)) co_return *std::move(denied);
  control::TrafficControl* traffic = services_->traffic.get();
  if (traffic == nullptr) {
    co_return http::ErrorResponse(
        absl::FailedPreconditionError("traffic control is off (no `reserve` stage in the pipeline)"),
        info.request_id);
  }
  // The store may be Redis and the ledger PostgreSQL: read on the admin thread.
  co_await boost::asio::post(*admin_pool_, boost::asio::use_awaitable);
  absl::StatusOr<control::BudgetView> view = traffic->Budget();
  if (!view.ok()) co_return http::ErrorResponse(view.status(), info.request_id);
  nlohmann::json caps = nlohmann::json::array();
  for (const control::CapView& c : view->caps) {
    nlohmann::json j = {{"scope", c.scope},
                        {"spent_usd", c.spent.ToUsdString()},
                        {"held_usd", c.held.ToUsdString()}};
    if (c.cap > core::Money::Zero()) {
      const core::Money left = c.cap - c.spent - c.held;
      j["cap_usd"] = c.cap.ToUsdString();
      j["remaining_usd"] = (left > core::Money::Zero() ? left : core::Money::Zero()).ToUsdString();
    } else {
      j["cap_usd"] = nullptr;
    }
    caps.push_back(std::move(j));
  }
  const absl::Time next = traffic->NextDay(services_->clock->Now());
  nlohmann::json body = {{"day", view->day},
                         {"time_zone", view->time_zone},
                         {"resets_at", absl::FormatTime(absl::RFC3339_sec, next, absl::UTCTimeZone())},
                         {"degradation_level", view->level},
                         {"velocity_usd", view->velocity.ToUsdString()},
                         {"velocity_window_minutes",
                          absl::ToInt64Minutes(config_->cost_breaker.velocity_window)},
                         {"caps", std::move(caps)},
                         {"store", view->store},
                         {"ledger", view->ledger}};
  co_return http::JsonResponse(200, body.dump());
}

}  // namespace mangaassist::api
