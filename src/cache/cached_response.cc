#include "cache/cached_response.h"

#include "nlohmann/json.hpp"
#include "simdjson.h"

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
  // simdjson, with one parser per thread (it keeps its buffers): this runs on every cache hit.
  thread_local simdjson::dom::parser parser;
  auto bad = [](const char* why) {
    return absl::InvalidArgumentError(std::string("cached response: ") + why);
  };
  simdjson::dom::element doc;
  simdjson::dom::object obj;
  if (parser.parse(bytes.data(), bytes.size(), true).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(obj) != simdjson::SUCCESS) {
    return bad("not a JSON object");
  }
  int64_t version = 0;
  if (obj["v"].get_int64().get(version) != simdjson::SUCCESS || version != kVersion) {
    return bad("unknown version");
  }
  auto str = [&obj](const char* k, std::string* out) {
    std::string_view v;
    if (obj[k].get_string().get(v) != simdjson::SUCCESS) return false;
    out->assign(v);
    return true;
  };
  auto ints = [&obj](const char* k, int64_t* out, size_t n) {
    simdjson::dom::array a;
    if (obj[k].get_array().get(a) != simdjson::SUCCESS || a.size() != n) return false;
    size_t i = 0;
    for (simdjson::dom::element e : a) {
      if (e.get_int64().get(out[i++]) != simdjson::SUCCESS) return false;
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
  if (obj["created_ms"].get_int64().get(created) != simdjson::SUCCESS) created = 0;
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
