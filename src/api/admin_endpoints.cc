// The admin endpoints (SPEC §3), each behind AdminAuth:
//   POST /admin/cache/invalidate — drop cached entries (US-03) by
//     {"keyspace": "llmresp"}                        the whole keyspace
//     {"keyspace": "product", "prefix": "isbn:97"}   keys of a keyspace starting with a prefix
//     {"model": "claude-3-5-haiku-20241022"}          every cached answer of a model (an alias
//                                                     name resolves to its model id)
//   → 200 {"deleted": N, "keyspace": ..., "prefix": ...}; 503 when a keyspace's Redis is down
//   (the invalidation did not reach it: retry), 400 for a malformed body.
// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <string>

#include "absl/strings/str_cat.h"
#include "api/gateway.h"
#include "cache/cache.h"
#include "cache/response_key.h"
#include "core/status.h"
#include "core/strings.h"
#include "llm/models.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace mangaassist::api {

boost::asio::awaitable<http::Response> Gateway::InvalidateCache(http::Request& req,
                                                                http::RequestInfo& info) {
  if (absl::Status auth = admin_auth_.Check(req); !auth.ok()) {
    http::Response res = http::ErrorResponse(auth, info.request_id);
    if (auth.code() == absl::StatusCode::kUnauthenticated) {
      res.set(boost::beast::http::field::www_authenticate, "Bearer");
    }
    co_return res;
  }
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

}  // namespace mangaassist::api
