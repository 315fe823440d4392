#include "cache/cached_response.h"

#include "nlohmann/json.hpp"

namespace mangaassist::cache {
namespace {

constexpr int kVersion = 1;

// Route names as stored; the numeric enum is not a stable format.
bool ParseRoute(std::string_view name, core::Route* out) {
  for (core::Route r : {core::Route::kTemplate, core::Route::kCache, core::Route::kSemanticCache,
                        core::Route::kExtractive, core::Route::kHaiku, core::Route::kSonnet}) {
    if (core::RouteName(r) == name) {
      *out = r;
      return true;
    }
  }
  return false;
}

}  // namespace

std::string EncodeCachedResponse(const CachedResponse& r) {
  nlohmann::json j;
  j["v"] = kVersion;
  j["answer"] = r.answer;
  j["model"] = r.model;
  j["route"] = std::string(core::RouteName(r.route));
  j["finish"] = r.finish_reason;
  j["usage"] = {r.usage.input_tokens, r.usage.output_tokens, r.usage.cache_read_tokens,
                r.usage.cache_write_tokens};
  j["cost_nanos"] = {r.llm_input.nanos(), r.llm_output.nanos(), r.llm_cache_read.nanos(),
                     r.llm_cache_write.nanos()};
  j["created_ms"] = r.created_unix_ms;
  // Answers are normalized UTF-8; replace rather than throw if a provider sent anything else.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::StatusOr<CachedResponse> DecodeCachedResponse(std::string_view bytes) {
  nlohmann::json j = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
  auto bad = [](const char* why) {
    return absl::InvalidArgumentError(std::string("cached response: ") + why);
  };
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  if (auto v = j.find("v"); v == j.end() || !v->is_number_integer() || v->get<int>() != kVersion) {
    return bad("unknown version");
  }
  // Checked field by field: no exceptions on the request path.
  auto str = [&j](const char* k, std::string* out) {
    auto it = j.find(k);
    if (it == j.end() || !it->is_string()) return false;
    *out = it->get<std::string>();
    return true;
  };
  auto ints = [&j](const char* k, int64_t* out, size_t n) {
    auto it = j.find(k);
    if (it == j.end() || !it->is_array() || it->size() != n) return false;
    for (size_t i = 0; i < n; ++i) {
      if (!(*it)[i].is_number_integer()) return false;
      out[i] = (*it)[i].get<int64_t>();
    }
    return true;
  };
  CachedResponse r;
  std::string route;
  int64_t u[4], c[4], created = 0;
  if (!str("answer", &r.answer) || !str("model", &r.model) || !str("route", &route) ||
      !str("finish", &r.finish_reason) || !ints("usage", u, 4) || !ints("cost_nanos", c, 4)) {
    return bad("missing or mistyped field");
  }
  if (auto it = j.find("created_ms"); it != j.end() && it->is_number_integer()) {
    created = it->get<int64_t>();
  }
  if (!ParseRoute(route, &r.route)) return bad("unknown route");
  r.usage = {u[0], u[1], u[2], u[3]};
  r.llm_input = core::Money::FromNanos(c[0]);
  r.llm_output = core::Money::FromNanos(c[1]);
  r.llm_cache_read = core::Money::FromNanos(c[2]);
  r.llm_cache_write = core::Money::FromNanos(c[3]);
  r.created_unix_ms = created;
  return r;
}

}  // namespace mangaassist::cache
