#include "api/idempotency.h"

#include <xxhash.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/status.h"
#include "core/strings.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace mangaassist::api {
namespace {

namespace bhttp = boost::beast::http;

constexpr size_t kMaxKeyBytes = 255;
// How long a claim of a running request lives (a crashed replica's claim frees itself).
constexpr absl::Duration kPendingTtl = absl::Minutes(2);

std::string Hash128(std::string_view a, std::string_view b, std::string_view c) {
  XXH3_state_t* st = XXH3_createState();
  XXH3_128bits_reset(st);
  for (std::string_view part : {a, b, c}) {
    const uint64_t n = part.size();
    XXH3_128bits_update(st, &n, sizeof n);  // length-prefixed: parts cannot run together
    XXH3_128bits_update(st, part.data(), part.size());
  }
  XXH128_hash_t h = XXH3_128bits_digest(st);
  XXH3_freeState(st);
  return absl::StrFormat("%016x%016x", h.high64, h.low64);
}

http::Response Error(absl::Status status, const std::string& request_id) {
  return http::ErrorResponse(status, request_id);
}

}  // namespace

std::optional<http::Response> Idempotency::Begin(const http::Request& req,
                                                 const http::RequestInfo& info, Claim* claim) {
  auto it = req.find("Idempotency-Key");
  if (!config_.enabled || it == req.end() || cache_ == nullptr) return std::nullopt;
  std::string_view key = it->value();
  bool printable = !key.empty() && key.size() <= kMaxKeyBytes;
  for (unsigned char c : key) printable = printable && c >= 0x21 && c <= 0x7e;
  if (!printable) {
    return Error(absl::InvalidArgumentError(absl::StrCat(
                     "Idempotency-Key must be 1 to ", kMaxKeyBytes, " printable ASCII characters")),
                 info.request_id);
  }
  // Scoped by the credential: two clients cannot read each other's responses.
  std::string_view credential;
  if (auto a = req.find(bhttp::field::authorization); a != req.end()) credential = a->value();
  if (auto x = req.find("x-api-key"); x != req.end()) credential = x->value();
  claim->key = absl::StrCat("idem:", Hash128(credential, key, ""));
  claim->body_hash = Hash128(std::string_view(req.target()), req.body(), "");

  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::StatusOr<std::string> stored = cache_->Get(cache::Keyspace::kCost, claim->key);
    if (stored.ok()) {
      nlohmann::json r = nlohmann::json::parse(*stored, nullptr, /*allow_exceptions=*/false);
      if (r.is_discarded() || !r.is_object()) break;  // unreadable: run as if new
      if (r.value("h", "") != claim->body_hash) {
        return Error(absl::FailedPreconditionError(
                         "this Idempotency-Key was used with a different request body"),
                     info.request_id);
      }
      if (r.value("s", "") == "p") {
        http::Response res = Error(absl::AlreadyExistsError(
            "a request with this Idempotency-Key is still running; retry shortly"), info.request_id);
        res.set(bhttp::field::retry_after, "1");
        return res;
      }
      http::Response res{static_cast<bhttp::status>(r.value("c", 200)), 11};
      for (const auto& [name, value] : r["x"].items()) res.set(name, value.get<std::string>());
      res.set("Idempotent-Replayed", "true");
      res.body() = r.value("b", "");
      return res;
    }
    if (!absl::IsNotFound(stored.status())) {
      spdlog::warn("[{}] Idempotency-Key not honoured: {}", info.request_id,
                   core::ToStd(stored.status().message()));
      return std::nullopt;
    }
    nlohmann::json pending = {{"s", "p"}, {"h", claim->body_hash}};
    absl::StatusOr<bool> added =
        cache_->Add(cache::Keyspace::kCost, claim->key, pending.dump(), kPendingTtl);
    if (!added.ok()) {
      spdlog::warn("[{}] Idempotency-Key not honoured: {}", info.request_id,
                   core::ToStd(added.status().message()));
      return std::nullopt;
    }
    if (*added) {
      claim->active = true;
      return std::nullopt;
    }
    // Someone claimed it between our Get and Add: read theirs.
  }
  return std::nullopt;
}

void Idempotency::Finish(const Claim& claim, const http::Response& res, bool streamed) {
  if (!claim.active) return;
  if (streamed || res.result_int() >= 500 || res.body().size() > config_.max_response_bytes) {
    (void)cache_->Delete(cache::Keyspace::kCost, claim.key);
    return;
  }
  nlohmann::json headers = nlohmann::json::object();
  for (const auto& field : res) {
    headers[std::string(field.name_string())] = std::string(field.value());
  }
  nlohmann::json done = {{"s", "d"}, {"h", claim.body_hash}, {"c", res.result_int()},
                         {"x", std::move(headers)}, {"b", res.body()}};
  if (absl::Status s = cache_->Set(cache::Keyspace::kCost, claim.key, done.dump(), config_.ttl);
      !s.ok()) {
    spdlog::warn("Idempotency-Key response not stored: {}", core::ToStd(s.message()));
    (void)cache_->Delete(cache::Keyspace::kCost, claim.key);
  }
}

}  // namespace mangaassist::api
