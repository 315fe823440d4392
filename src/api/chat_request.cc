#include "api/chat_request.h"

#include <array>
#include <charconv>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "api/compat_json.h"
#include "core/strings.h"
#include "nlohmann/json.hpp"  // the confidence number
#include "simdjson.h"

namespace mangaassist::api {
namespace {

absl::Status ReadString(simdjson::dom::object& obj, const char* key, std::string* out,
                        bool* present = nullptr) {
  simdjson::dom::element el;
  if (obj[key].get(el) != simdjson::SUCCESS) return absl::OkStatus();
  if (el.is_null()) return absl::OkStatus();
  std::string_view sv;
  if (el.get(sv) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(absl::StrCat("field '", key, "' must be a string"));
  }
  out->assign(sv.data(), sv.size());
  if (present != nullptr) *present = true;
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseChatRequest(std::string_view body, int max_depth, core::RequestContext* ctx) {
  absl::StatusOr<simdjson::dom::object> parsed = internal::ParseJsonObject(body, max_depth);
  if (!parsed.ok()) return parsed.status();
  simdjson::dom::object obj = *parsed;
  if (auto s = ReadString(obj, "session_id", &ctx->session_id); !s.ok()) return s;
  if (auto s = ReadString(obj, "user_id", &ctx->user_id); !s.ok()) return s;
  if (auto s = ReadString(obj, "message", &ctx->message); !s.ok()) return s;
  if (auto s = ReadString(obj, "tier", &ctx->tier_text, &ctx->tier_given); !s.ok()) return s;
  if (auto s = ReadString(obj, "locale", &ctx->locale); !s.ok()) return s;
  return absl::OkStatus();
}

// The response has a fixed shape, so it is written field by field: keys and numbers are
// literals, every string goes through internal::AppendJsonString. (Building an nlohmann DOM and
// dumping it cost ≈5 µs per response; this costs a fraction of that.)
std::string ChatResponseJson(const core::RequestContext& ctx) {
  std::string out;
  out.reserve(512 + ctx.answer.size() * 2);
  out += "{\"request_id\":";
  internal::AppendJsonString(&out, ctx.request_id);
  out += ",\"answer\":";
  internal::AppendJsonString(&out, ctx.answer);
  if (ctx.intent.empty()) {
    out += ",\"intent\":null,\"confidence\":null";
  } else {
    out += ",\"intent\":";
    internal::AppendJsonString(&out, ctx.intent);
    out += ",\"confidence\":";
    out += nlohmann::json(ctx.intent_confidence).dump();
  }
  // Plain appends: absl::StrAppend's generic piece list cost more than the bytes it copies.
  const auto append_int = [&out](int64_t n) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, n);
    out.append(buf, static_cast<size_t>(r.ptr - buf));
  };
  out += ",\"lang\":\"";
  out += core::LangName(ctx.lang);
  out += "\",\"route\":\"";
  out += core::RouteName(ctx.route);
  out += "\",\"degraded_level\":";
  append_int(ctx.degraded_level);
  const core::Money total = ctx.cost.Total();
  out += ",\"cost\":{\"usd\":\"";
  out += total.ToUsdString();
  out += "\",\"nano_usd\":";
  append_int(total.nanos());
  out += ",\"baseline_usd\":\"";
  out += ctx.baseline.ToUsdString();
  out += "\",\"baseline_nano_usd\":";
  append_int(ctx.baseline.nanos());
  // `,"components":{"llm_input":`, `,"llm_output":`, …: each component's key, once.
  static const std::array<std::string, static_cast<size_t>(core::CostComponent::kCount)> kKeys = [] {
    std::array<std::string, static_cast<size_t>(core::CostComponent::kCount)> keys;
    for (size_t i = 0; i < keys.size(); ++i) {
      keys[i] = absl::StrCat(i == 0 ? ",\"components\":{\"" : ",\"",
                             core::ToAbsl(core::CostComponentName(static_cast<core::CostComponent>(i))),
                             "\":");
    }
    return keys;
  }();
  for (size_t i = 0; i < kKeys.size(); ++i) {
    out += kKeys[i];
    append_int(ctx.cost.Get(static_cast<core::CostComponent>(i)).nanos());
  }
  out += "}}}";
  return out;
}

}  // namespace mangaassist::api
