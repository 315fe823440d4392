// The US-08 admin endpoints, each behind AdminAuth:
//   GET /admin/flags — every flag: its own value, its value after the seed's precedence, the
//     default, and the source's state (source, source_ok, version).
//   PUT /admin/flags — {"name": "...", "value": true|false, "reason": "...", "actor"?: "..."}
//     or {"flags": {"name": bool, ...}, "reason": "...", "actor"?: "..."}: validated as a
//     whole, written to the flag source, one audit entry per flag (actor default "admin", the
//     request's id) → 200 with the flags after the change; 400 for an unknown name or a bad
//     body; 503 when the source cannot be written; 500 when the change was made but its audit
//     entry failed (the message says so).
//   GET /admin/audit?after=SEQ&limit=N&verify=1&expect_head=HASH — entries after SEQ (at most
//     N, default 100, max 1000) and, with verify=1, the chain check (expect_head: an anchor).
// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "api/gateway.h"
#include "control/audit.h"
#include "control/control_json.h"
#include "control/flags.h"
#include "http/query.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace mangaassist::api {
namespace {

constexpr size_t kMaxActorBytes = 128;
constexpr size_t kMaxReasonBytes = 1024;
constexpr int kDefaultAuditLimit = 100;
constexpr int kMaxAuditLimit = 1000;

std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

boost::asio::awaitable<http::Response> Gateway::GetFlags(http::Request& req,
                                                         http::RequestInfo& info) {
  if (auto denied = AdminDenied(req, info)) co_return *std::move(denied);
  auto query = http::ParseQuery(req.target());
  if (!query.ok()) co_return http::ErrorResponse(query.status(), info.request_id);
  if (!query->empty()) {
    co_return http::ErrorResponse(
        absl::InvalidArgumentError("GET /admin/flags takes no parameters"), info.request_id);
  }
  const control::FlagEvaluator& flags = *services_->flags;
  co_return http::JsonResponse(200, Dump(control::FlagsJson(*flags.Current(), flags.source())));
}

boost::asio::awaitable<http::Response> Gateway::PutFlags(http::Request& req,
                                                         http::RequestInfo& info) {
  if (auto denied = AdminDenied(req, info)) co_return *std::move(denied);
  auto bad = [&info](std::string message) {
    return http::ErrorResponse(absl::InvalidArgumentError(std::move(message)), info.request_id);
  };
  nlohmann::json body = nlohmann::json::parse(req.body(), nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) co_return bad("the body must be a JSON object");
  std::vector<std::pair<std::string, bool>> values;
  control::AuditContext who{"admin", "", info.request_id};
  bool has_name = false, has_value = false;
  std::string name;
  bool value = false;
  for (const auto& [k, v] : body.items()) {
    if (k == "name") {
      if (!v.is_string()) co_return bad("'name' must be a string");
      name = v.get<std::string>();
      has_name = true;
    } else if (k == "value") {
      if (!v.is_boolean()) co_return bad("'value' must be true or false");
      value = v.get<bool>();
      has_value = true;
    } else if (k == "flags") {
      if (!v.is_object() || v.empty()) {
        co_return bad("'flags' must be a non-empty object of flag name to true|false");
      }
      for (const auto& [fname, fvalue] : v.items()) {
        if (!fvalue.is_boolean())
          co_return bad(absl::StrCat("flags.", fname, " must be true or false"));
        values.emplace_back(fname, fvalue.get<bool>());
      }
    } else if (k == "reason") {
      if (!v.is_string()) co_return bad("'reason' must be a string");
      who.reason = v.get<std::string>();
    } else if (k == "actor") {
      if (!v.is_string() || v.get<std::string>().empty()) {
        co_return bad("'actor' must be a non-empty string");
      }
      who.actor = v.get<std::string>();
    } else {
      co_return bad(absl::StrCat("unknown field '", k,
                                 "' (use name, value, reason, actor — or flags, reason, actor)"));
    }
  }
  if (has_name || has_value) {
    if (!values.empty()) co_return bad("give either name and value, or flags — not both");
    if (!has_name || !has_value) co_return bad("'name' and 'value' go together");
    values.emplace_back(name, value);
  }
  if (values.empty()) co_return bad("nothing to set: give name and value, or flags");
  if (who.reason.empty()) co_return bad("'reason' is required: it goes into the audit trail");
  if (who.reason.size() > kMaxReasonBytes) {
    co_return bad(absl::StrCat("'reason' is longer than ", kMaxReasonBytes, " bytes"));
  }
  if (who.actor.size() > kMaxActorBytes) {
    co_return bad(absl::StrCat("'actor' is longer than ", kMaxActorBytes, " bytes"));
  }
  for (const auto& [n, v] : values) {
    if (control::FindFlag(n) == nullptr) {
      co_return bad(absl::StrCat("unknown flag '", n, "' (GET /admin/flags lists them)"));
    }
  }

  // The source write (file, Redis) and the audit append block: run them on the admin thread.
  auto home = co_await boost::asio::this_coro::executor;
  co_await boost::asio::post(*admin_pool_, boost::asio::use_awaitable);
  absl::Status status = services_->flags->SetMany(values, who);
  co_await boost::asio::post(home, boost::asio::use_awaitable);
  if (!status.ok()) {
    spdlog::warn("[{}] admin: flags set: {}", info.request_id, status.ToString());
    co_return http::ErrorResponse(status, info.request_id);
  }
  const control::FlagEvaluator& flags = *services_->flags;
  nlohmann::json out = control::FlagsJson(*flags.Current(), flags.source());
  nlohmann::json set = nlohmann::json::object();
  for (const auto& [n, v] : values) set[n] = v;
  out["set"] = std::move(set);
  co_return http::JsonResponse(200, Dump(out));
}

boost::asio::awaitable<http::Response> Gateway::GetAudit(http::Request& req,
                                                         http::RequestInfo& info) {
  if (auto denied = AdminDenied(req, info)) co_return *std::move(denied);
  auto bad = [&info](std::string message) {
    return http::ErrorResponse(absl::InvalidArgumentError(std::move(message)), info.request_id);
  };
  auto query = http::ParseQuery(req.target());
  if (!query.ok()) co_return bad(std::string(query.status().message()));
  int64_t after = 0;
  int limit = kDefaultAuditLimit;
  bool verify = false;
  std::string expect_head;
  for (const auto& [k, v] : *query) {
    if (k == "after") {
      if (!absl::SimpleAtoi(v, &after) || after < 0) {
        co_return bad("'after' must be a sequence number ≥ 0");
      }
    } else if (k == "limit") {
      if (!absl::SimpleAtoi(v, &limit) || limit < 1 || limit > kMaxAuditLimit) {
        co_return bad(absl::StrCat("'limit' must be 1..", kMaxAuditLimit));
      }
    } else if (k == "verify") {
      if (v == "1" || v == "true") {
        verify = true;
      } else if (v != "0" && v != "false") {
        co_return bad("'verify' must be 1 or 0");
      }
    } else if (k == "expect_head") {
      expect_head = v;
      verify = true;
    } else {
      co_return bad(
          absl::StrCat("unknown parameter '", k, "' (use after, limit, verify, expect_head)"));
    }
  }

  auto home = co_await boost::asio::this_coro::executor;
  co_await boost::asio::post(*admin_pool_, boost::asio::use_awaitable);
  control::AuditLog& audit = *services_->audit;
  absl::StatusOr<std::vector<control::AuditEntry>> entries = audit.List(after, limit);
  absl::StatusOr<control::VerifyResult> verified = control::VerifyResult{};
  if (entries.ok() && verify) verified = control::VerifyWithAnchor(audit, expect_head);
  co_await boost::asio::post(home, boost::asio::use_awaitable);
  absl::Status status = entries.ok() ? verified.status() : entries.status();
  if (!status.ok()) {
    spdlog::warn("[{}] admin: audit: {}", info.request_id, status.ToString());
    co_return http::ErrorResponse(status, info.request_id);
  }
  nlohmann::json list = nlohmann::json::array();
  for (const control::AuditEntry& e : *entries) list.push_back(control::AuditEntryJson(e));
  nlohmann::json out = {{"entries", std::move(list)},
                        {"next_after", entries->empty() ? after : entries->back().seq}};
  if (verify) out["verify"] = control::VerifyResultJson(*verified);
  co_return http::JsonResponse(200, Dump(out));
}

}  // namespace mangaassist::api
