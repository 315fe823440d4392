#include "telemetry/event_codec.h"

#include <charconv>
#include <cstring>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "nlohmann/json.hpp"
#include "privacy/redactor.h"
#include "simdjson.h"

namespace mangaassist::telemetry {
namespace {

static_assert(core::kRedactionTypeCount == privacy::kPiiTypeCount);

// Savings keys, by Story.
constexpr std::string_view kStoryKeys[kStoryCount] = {"us01", "us02", "us03", "us04",
                                                      "us05", "us06", "us07", "us08"};

// --- encoding -----------------------------------------------------------------------------------
// The object is composed as a string: an event is a few hundred bytes of mostly fixed keys and
// integers, and building a DOM first would cost more than the rest of emitting.

void AppendInt(std::string& out, int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// JSON string literal. Plain printable ASCII (ids, hashes, names: nearly every field) is copied
// as is; anything else goes through nlohmann_json, which escapes control characters and replaces
// invalid UTF-8 with U+FFFD instead of failing.
void AppendString(std::string& out, std::string_view s) {
  bool plain = true;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') {
      plain = false;
      break;
    }
  }
  if (plain) {
    out.push_back('"');
    out.append(s);
    out.push_back('"');
    return;
  }
  out +=
      nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// `,"key":` — keys are compile-time literals that need no escaping.
void AppendKey(std::string& out, std::string_view key) {
  out.push_back(',');
  out.push_back('"');
  out.append(key);
  out.append("\":", 2);
}

// The whole event, or (columns == false) only the fields the event stores keep in no column of
// their own. Keys in one fixed order either way.
std::string Encode(const CostEvent& e, bool columns) {
  std::string out;
  out.reserve(768 + e.request_id.size() + e.intent.size() + e.model.size() + e.provider.size() +
              24 * e.stage_latency_us.size());
  out.append("{\"schema_version\":");
  AppendInt(out, e.schema_version);
  if (columns) {
    AppendKey(out, "request_id");
    AppendString(out, e.request_id);
    AppendKey(out, "ts_unix_ms");
    AppendInt(out, e.ts_unix_ms);
    AppendKey(out, "tenant");
    AppendString(out, e.tenant);
  }
  AppendKey(out, "user_hash");
  AppendString(out, e.user_hash);
  AppendKey(out, "session_hash");
  AppendString(out, e.session_hash);
  if (columns) {
    AppendKey(out, "tier");
    AppendString(out, core::TierName(e.tier));
    AppendKey(out, "lang");
    AppendString(out, core::LangName(e.lang));
    AppendKey(out, "intent");
    AppendString(out, e.intent);
  }
  AppendKey(out, "intent_confidence");
  {
    // Shortest representation that reads back as the same float.
    char buf[32];
    float c = e.intent_confidence;
    if (!(c == c) || c > 1e30f || c < -1e30f) c = 0;  // JSON has no NaN/Inf
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, c);
    out.append(buf, end);
  }
  if (!e.intent_version.empty()) {  // absent when no intent stage ran (older events lack it too)
    AppendKey(out, "intent_version");
    AppendString(out, e.intent_version);
  }
  if (columns) {
    AppendKey(out, "route");
    AppendString(out, core::RouteName(e.route));
  }
  AppendKey(out, "provider");
  AppendString(out, e.provider);
  if (columns) {
    AppendKey(out, "model");
    AppendString(out, e.model);
    out.append(",\"usage\":{\"input_tokens\":");
    AppendInt(out, e.usage.input_tokens);
    out.append(",\"output_tokens\":");
    AppendInt(out, e.usage.output_tokens);
    out.append(",\"cache_read_tokens\":");
    AppendInt(out, e.usage.cache_read_tokens);
    out.append(",\"cache_write_tokens\":");
    AppendInt(out, e.usage.cache_write_tokens);
    out.push_back('}');
    AppendKey(out, "http_status");
    AppendInt(out, e.http_status);
    AppendKey(out, "degraded_level");
    AppendInt(out, e.degraded_level);
  }
  AppendKey(out, "flags_hash");
  AppendString(out, e.flags_hash);
  out.append(",\"redactions\":{");
  bool first = true;
  for (size_t i = 0; i < e.redactions.size(); ++i) {
    if (e.redactions[i] == 0) continue;  // absent means zero
    if (!first) out.push_back(',');
    first = false;
    AppendString(out, privacy::PiiTypeName(static_cast<privacy::PiiType>(i)));
    out.push_back(':');
    AppendInt(out, e.redactions[i]);
  }
  out.append("},\"stage_latency_us\":[");
  for (size_t i = 0; i < e.stage_latency_us.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('[');
    AppendString(out, e.stage_latency_us[i].first);
    out.push_back(',');
    AppendInt(out, e.stage_latency_us[i].second);
    out.push_back(']');
  }
  out.push_back(']');
  AppendKey(out, "latency_us");
  AppendInt(out, e.latency_us);
  if (!columns) {
    out.push_back('}');
    return out;
  }
  out.append(",\"cost_nanos\":{");
  for (size_t i = 0; i < kCostComponentCount; ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('"');
    out.append(core::CostComponentName(static_cast<core::CostComponent>(i)));
    out.append("\":", 2);
    AppendInt(out, e.cost[i].nanos());
  }
  out.push_back('}');
  AppendKey(out, "total_nanos");
  AppendInt(out, e.Total().nanos());
  AppendKey(out, "baseline_nanos");
  AppendInt(out, e.baseline.nanos());
  out.append(",\"baseline_cost_nanos\":{");
  for (size_t i = 0; i < kCostComponentCount; ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('"');
    out.append(core::CostComponentName(static_cast<core::CostComponent>(i)));
    out.append("\":", 2);
    AppendInt(out, e.baseline_cost[i].nanos());
  }
  out.push_back('}');
  out.append(",\"savings_nanos\":{");
  for (size_t i = 0; i < kStoryCount; ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('"');
    out.append(kStoryKeys[i]);
    out.append("\":", 2);
    AppendInt(out, e.savings[i].nanos());
  }
  out.append("}}");
  return out;
}

}  // namespace

std::string EncodeCostEventJson(const CostEvent& e) { return Encode(e, true); }

std::string EncodeCostEventExtraJson(const CostEvent& e) { return Encode(e, false); }

// --- decoding -----------------------------------------------------------------------------------
namespace {

using simdjson::dom::element;

absl::Status WrongType(std::string_view field, std::string_view want) {
  return absl::InvalidArgumentError(
      absl::StrCat("cost event field '", core::ToAbsl(field), "' must be ", core::ToAbsl(want)));
}

absl::Status GetInt(element v, std::string_view field, int64_t* out) {
  if (v.get_int64().get(*out) != simdjson::SUCCESS) return WrongType(field, "an integer");
  return absl::OkStatus();
}

absl::Status GetIntIn(element v, std::string_view field, int64_t lo, int64_t hi, int64_t* out) {
  if (auto s = GetInt(v, field, out); !s.ok()) return s;
  if (*out < lo || *out > hi) {
    return absl::InvalidArgumentError(absl::StrCat("cost event field '", core::ToAbsl(field),
                                                   "' out of range [", lo, ", ", hi, "]"));
  }
  return absl::OkStatus();
}

absl::Status GetString(element v, std::string_view field, std::string* out) {
  std::string_view s;
  if (v.get_string().get(s) != simdjson::SUCCESS) return WrongType(field, "a string");
  out->assign(s.data(), s.size());
  return absl::OkStatus();
}

absl::Status GetMoney(element v, std::string_view field, core::Money* out) {
  int64_t n = 0;
  if (auto s = GetInt(v, field, &n); !s.ok()) return s;
  *out = core::Money::FromNanos(n);
  return absl::OkStatus();
}

absl::Status BadName(std::string_view field, std::string_view name) {
  return absl::InvalidArgumentError(absl::StrCat("cost event field '", core::ToAbsl(field),
                                                 "' has unknown value '", core::ToAbsl(name), "'"));
}

bool ParseRoute(std::string_view name, core::Route* out) {
  for (int i = 0; i <= static_cast<int>(core::Route::kSonnet); ++i) {
    if (core::RouteName(static_cast<core::Route>(i)) == name) {
      *out = static_cast<core::Route>(i);
      return true;
    }
  }
  return false;
}

// The top-level keys, in the order the encoder writes them: decoding tries the key after the
// previous one first, so an event from this encoder needs one comparison per key.
enum class Key {
  kSchemaVersion,
  kRequestId,
  kTsUnixMs,
  kTenant,
  kUserHash,
  kSessionHash,
  kTier,
  kLang,
  kIntent,
  kIntentConfidence,
  kIntentVersion,
  kRoute,
  kProvider,
  kModel,
  kUsage,
  kHttpStatus,
  kDegradedLevel,
  kFlagsHash,
  kRedactions,
  kStageLatencyUs,
  kLatencyUs,
  kCostNanos,
  kTotalNanos,
  kBaselineNanos,
  kBaselineCostNanos,
  kSavingsNanos,
  kUnknown
};
constexpr std::string_view kKeys[] = {
    "schema_version", "request_id",     "ts_unix_ms",  "tenant",         "user_hash",
    "session_hash",   "tier",           "lang",        "intent",         "intent_confidence",
    "intent_version", "route",          "provider",    "model",          "usage",
    "http_status",    "degraded_level", "flags_hash",  "redactions",     "stage_latency_us",
    "latency_us",     "cost_nanos",     "total_nanos", "baseline_nanos", "baseline_cost_nanos",
    "savings_nanos",
};
static_assert(std::size(kKeys) == static_cast<size_t>(Key::kUnknown));

Key LookUpKey(std::string_view key, size_t* next) {
  size_t i = *next;
  if (i >= std::size(kKeys) || kKeys[i] != key) {
    i = 0;
    while (i < std::size(kKeys) && kKeys[i] != key) ++i;
    if (i == std::size(kKeys)) return Key::kUnknown;  // *next stays: the next known key follows
  }
  *next = i + 1;
  return static_cast<Key>(i);
}

absl::Status DecodeFields(simdjson::dom::object obj, CostEvent* e) {
  bool has_total = false;
  bool has_baseline_cost = false;  // schema 2; absent in version 1 events
  int64_t total = 0;
  size_t next_key = 0;
  for (auto field : obj) {
    std::string_view key = field.key;
    element v = field.value;
    absl::Status s;
    int64_t n = 0;
    const Key id = LookUpKey(key, &next_key);
    switch (id) {
      case Key::kSchemaVersion:
        continue;  // checked first, by the caller
      case Key::kRequestId: {
        s = GetString(v, key, &e->request_id);
        break;
      }
      case Key::kTsUnixMs: {
        s = GetInt(v, key, &e->ts_unix_ms);
        break;
      }
      case Key::kTenant: {
        s = GetString(v, key, &e->tenant);
        break;
      }
      case Key::kUserHash: {
        s = GetString(v, key, &e->user_hash);
        break;
      }
      case Key::kSessionHash: {
        s = GetString(v, key, &e->session_hash);
        break;
      }
      case Key::kTier: {
        std::string_view name;
        if (v.get_string().get(name) != simdjson::SUCCESS) return WrongType(key, "a string");
        if (!core::ParseTier(name, &e->tier)) return BadName(key, name);
        break;
      }
      case Key::kLang: {
        std::string_view name;
        if (v.get_string().get(name) != simdjson::SUCCESS) return WrongType(key, "a string");
        if (!core::ParseLang(name, &e->lang)) return BadName(key, name);
        break;
      }
      case Key::kIntent: {
        s = GetString(v, key, &e->intent);
        break;
      }
      case Key::kIntentVersion: {
        s = GetString(v, key, &e->intent_version);
        break;
      }
      case Key::kIntentConfidence: {
        double d = 0;
        if (v.get_double().get(d) != simdjson::SUCCESS) return WrongType(key, "a number");
        e->intent_confidence = static_cast<float>(d);
        break;
      }
      case Key::kRoute: {
        std::string_view name;
        if (v.get_string().get(name) != simdjson::SUCCESS) return WrongType(key, "a string");
        if (!ParseRoute(name, &e->route)) return BadName(key, name);
        break;
      }
      case Key::kProvider: {
        s = GetString(v, key, &e->provider);
        break;
      }
      case Key::kModel: {
        s = GetString(v, key, &e->model);
        break;
      }
      case Key::kUsage: {
        simdjson::dom::object u;
        if (v.get_object().get(u) != simdjson::SUCCESS) return WrongType(key, "an object");
        for (auto uf : u) {
          std::string_view k = uf.key;
          int64_t* dst = k == "input_tokens"         ? &e->usage.input_tokens
                         : k == "output_tokens"      ? &e->usage.output_tokens
                         : k == "cache_read_tokens"  ? &e->usage.cache_read_tokens
                         : k == "cache_write_tokens" ? &e->usage.cache_write_tokens
                                                     : nullptr;
          if (dst == nullptr) continue;
          if (auto st = GetInt(uf.value, k, dst); !st.ok()) return st;
        }
        break;
      }
      case Key::kHttpStatus: {
        s = GetIntIn(v, key, 0, 999, &n);
        e->http_status = static_cast<int>(n);
        break;
      }
      case Key::kDegradedLevel: {
        s = GetIntIn(v, key, 0, 1000, &n);
        e->degraded_level = static_cast<int>(n);
        break;
      }
      case Key::kFlagsHash: {
        s = GetString(v, key, &e->flags_hash);
        break;
      }
      case Key::kRedactions: {
        simdjson::dom::object r;
        if (v.get_object().get(r) != simdjson::SUCCESS) return WrongType(key, "an object");
        for (auto rf : r) {
          privacy::PiiType type;
          // A PII type this build does not know is ignored like any unknown field.
          if (!privacy::ParsePiiType(rf.key, &type)) continue;
          if (auto st = GetIntIn(rf.value, rf.key, 0, 65535, &n); !st.ok()) return st;
          e->redactions[static_cast<size_t>(type)] = static_cast<uint16_t>(n);
        }
        break;
      }
      case Key::kStageLatencyUs: {
        simdjson::dom::array arr;
        if (v.get_array().get(arr) != simdjson::SUCCESS) return WrongType(key, "an array");
        e->stage_latency_us.clear();
        for (element item : arr) {
          simdjson::dom::array pair;
          std::string_view name;
          int64_t us = 0;
          if (item.get_array().get(pair) != simdjson::SUCCESS || pair.size() != 2 ||
              pair.at(0).get_string().get(name) != simdjson::SUCCESS ||
              pair.at(1).get_int64().get(us) != simdjson::SUCCESS) {
            return WrongType(key, "an array of [name, microseconds]");
          }
          e->stage_latency_us.emplace_back(std::string(name), us);
        }
        break;
      }
      case Key::kLatencyUs: {
        s = GetInt(v, key, &e->latency_us);
        break;
      }
      case Key::kCostNanos:
      case Key::kBaselineCostNanos: {
        simdjson::dom::object c;
        if (v.get_object().get(c) != simdjson::SUCCESS) return WrongType(key, "an object");
        size_t next = 0;  // the encoder writes components in order: try the next one first
        for (auto cf : c) {
          std::string_view k = cf.key;
          size_t i = next;
          if (i >= kCostComponentCount ||
              core::CostComponentName(static_cast<core::CostComponent>(i)) != k) {
            i = 0;
            while (i < kCostComponentCount &&
                   core::CostComponentName(static_cast<core::CostComponent>(i)) != k) {
              ++i;
            }
          }
          next = i + 1;
          // An unknown component would make the total disagree: refuse rather than drop money.
          if (i == kCostComponentCount) return BadName(key, k);
          auto& lines = id == Key::kCostNanos ? e->cost : e->baseline_cost;
          if (auto st = GetMoney(cf.value, k, &lines[i]); !st.ok()) return st;
        }
        if (id == Key::kBaselineCostNanos) has_baseline_cost = true;
        break;
      }
      case Key::kTotalNanos: {
        has_total = true;
        s = GetInt(v, key, &total);
        break;
      }
      case Key::kBaselineNanos: {
        s = GetMoney(v, key, &e->baseline);
        break;
      }
      case Key::kSavingsNanos: {
        simdjson::dom::object sv;
        if (v.get_object().get(sv) != simdjson::SUCCESS) return WrongType(key, "an object");
        size_t next = 0;  // in order, as above
        for (auto sf : sv) {
          std::string_view k = sf.key;
          size_t i = next;
          if (i >= kStoryCount || kStoryKeys[i] != k) {
            i = 0;
            while (i < kStoryCount && kStoryKeys[i] != k) ++i;
          }
          next = i + 1;
          if (i == kStoryCount) return BadName(key, k);
          if (auto st = GetMoney(sf.value, k, &e->savings[i]); !st.ok()) return st;
        }
        break;
      }
      case Key::kUnknown:
        break;
    }
    // Any other key: ignored (added by a later minor revision or by a consumer).
    if (!s.ok()) return s;
  }
  if (has_baseline_cost) {
    // All zero: no breakdown known (a producer without a baseline model); otherwise it must add
    // up, like total_nanos.
    core::Money sum;
    bool any = false;
    for (core::Money m : e->baseline_cost) {
      sum += m;
      any = any || m.nanos() != 0;
    }
    if (any && sum != e->baseline) {
      return absl::InvalidArgumentError(
          absl::StrCat("cost event baseline_nanos ", e->baseline.nanos(),
                       " is not the sum of baseline_cost_nanos (", sum.nanos(), ")"));
    }
  }
  if (has_total && total != e->Total().nanos()) {
    return absl::InvalidArgumentError(absl::StrCat("cost event total_nanos ", total,
                                                   " is not the sum of cost_nanos (",
                                                   e->Total().nanos(), ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CostEvent> DecodeCostEventJson(std::string_view json) {
  // One parser per thread: it keeps its buffers between events.
  thread_local simdjson::dom::parser parser;
  element doc;
  if (auto err = parser.parse(json.data(), json.size(), true).get(doc); err) {
    return absl::InvalidArgumentError(
        absl::StrCat("cost event is not valid JSON: ", simdjson::error_message(err)));
  }
  simdjson::dom::object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("cost event is not a JSON object");
  }
  element version;
  if (obj.at_key("schema_version").get(version) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("cost event has no schema_version");
  }
  int64_t v = 0;
  if (version.get_int64().get(v) != simdjson::SUCCESS || v < 1) {
    return absl::InvalidArgumentError("cost event schema_version must be a positive integer");
  }
  if (v > kCostEventSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "schema_version ", v, " is newer than this build (", kCostEventSchemaVersion, ")"));
  }
  CostEvent e;
  e.schema_version = static_cast<int>(v);
  if (auto s = DecodeFields(obj, &e); !s.ok()) return s;
  return e;
}

}  // namespace mangaassist::telemetry
