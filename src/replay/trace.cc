#include "replay/trace.h"

#include <simdjson.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "core/strings.h"
#include "nlohmann/json.hpp"

namespace mangaassist::replay {

namespace {

constexpr int64_t kMaxOutputTokens = 1'000'000;

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool Digits(std::string_view s, size_t pos, size_t n, int64_t* out) {
  if (pos + n > s.size()) return false;
  int64_t v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// The generator's own shape, "YYYY-MM-DDTHH:MM:SS[.fff]Z", without a time-zone lookup; anything
// else (offsets, other precisions) goes through absl's RFC 3339 parser.
bool ParseTs(std::string_view s, int64_t* ms) {
  int64_t y, mo, d, h, mi, sec, frac = 0;
  if (Digits(s, 0, 4, &y) && s.size() >= 20 && s[4] == '-' && Digits(s, 5, 2, &mo) && s[7] == '-' &&
      Digits(s, 8, 2, &d) && (s[10] == 'T' || s[10] == 't') && Digits(s, 11, 2, &h) &&
      s[13] == ':' && Digits(s, 14, 2, &mi) && s[16] == ':' && Digits(s, 17, 2, &sec) && mo >= 1 &&
      mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && sec <= 59) {
    const bool plain = s.size() == 20 && (s[19] == 'Z' || s[19] == 'z');
    const bool millis =
        s.size() == 24 && s[19] == '.' && Digits(s, 20, 3, &frac) && (s[23] == 'Z' || s[23] == 'z');
    if (plain || millis) {
      *ms = ((DaysFromCivil(y, mo, d) * 24 + h) * 60 + mi) * 60'000 + sec * 1000 + frac;
      return true;
    }
  }
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, std::string(s), &t, &err)) return false;
  *ms = absl::ToUnixMillis(t);
  return true;
}

absl::Status Bad(std::string_view what) { return absl::InvalidArgumentError(std::string(what)); }

}  // namespace

std::string FormatTraceTime(int64_t ts_ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(ts_ms), absl::UTCTimeZone());
}

void AppendTraceLine(const TraceRecord& r, std::string* out) {
  nlohmann::ordered_json j;
  j["ts"] = FormatTraceTime(r.ts_ms);
  j["session_id"] = r.session_id;
  j["user_id"] = r.user_id;
  j["tier"] = std::string(core::TierName(r.tier));
  j["message"] = r.message;
  if (!r.intent.empty()) j["intent"] = r.intent;
  if (r.lang.has_value()) j["lang"] = std::string(core::LangName(*r.lang));
  if (!r.canonical_id.empty()) j["canonical_id"] = r.canonical_id;
  if (r.output_tokens.has_value()) j["output_tokens"] = *r.output_tokens;
  out->append(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  out->push_back('\n');
}

struct TraceParser::Impl {
  simdjson::dom::parser parser;
  std::string padded;  // the line with simdjson's padding after it
};

TraceParser::TraceParser() : impl_(std::make_unique<Impl>()) {}
TraceParser::~TraceParser() = default;

absl::StatusOr<TraceRecord> TraceParser::Parse(std::string_view line) {
  std::string& buf = impl_->padded;
  buf.assign(line);
  buf.reserve(line.size() + simdjson::SIMDJSON_PADDING);
  simdjson::dom::element root;
  if (auto err = impl_->parser.parse(buf.data(), line.size(), false).get(root);
      err != simdjson::SUCCESS) {
    return Bad(absl::StrCat("malformed JSON (", simdjson::error_message(err), ")"));
  }
  simdjson::dom::object obj;
  if (root.get(obj) != simdjson::SUCCESS) return Bad("not a JSON object");

  TraceRecord r;
  auto required_string = [&obj](const char* key, std::string* out) -> absl::Status {
    simdjson::dom::element el;
    if (obj.at_key(key).get(el) != simdjson::SUCCESS || el.is_null()) {
      return Bad(absl::StrCat("missing field '", key, "'"));
    }
    std::string_view v;
    if (el.get(v) != simdjson::SUCCESS) return Bad(absl::StrCat("'", key, "' must be a string"));
    if (v.empty()) return Bad(absl::StrCat("'", key, "' is empty"));
    out->assign(v);
    return absl::OkStatus();
  };
  auto optional_string = [&obj](const char* key, std::string* out) -> absl::Status {
    simdjson::dom::element el;
    if (obj.at_key(key).get(el) != simdjson::SUCCESS || el.is_null()) return absl::OkStatus();
    std::string_view v;
    if (el.get(v) != simdjson::SUCCESS) return Bad(absl::StrCat("'", key, "' must be a string"));
    out->assign(v);
    return absl::OkStatus();
  };

  std::string ts;
  if (absl::Status s = required_string("ts", &ts); !s.ok()) return s;
  if (!ParseTs(ts, &r.ts_ms)) {
    return Bad(absl::StrCat("'ts' is not an RFC 3339 time: ", ts.substr(0, 40)));
  }
  if (absl::Status s = required_string("session_id", &r.session_id); !s.ok()) return s;
  if (absl::Status s = required_string("user_id", &r.user_id); !s.ok()) return s;
  std::string tier;
  if (absl::Status s = required_string("tier", &tier); !s.ok()) return s;
  if (!core::ParseTier(tier, &r.tier)) {
    return Bad(
        absl::StrCat("'tier' must be guest, member or premium, not '", tier.substr(0, 20), "'"));
  }
  // The message may be anything a client could send (empty and blank included): the pipeline
  // judges it, as it would a live request.
  {
    simdjson::dom::element el;
    if (obj.at_key("message").get(el) != simdjson::SUCCESS || el.is_null()) {
      return Bad("missing field 'message'");
    }
    std::string_view v;
    if (el.get(v) != simdjson::SUCCESS) return Bad("'message' must be a string");
    r.message.assign(v);
  }
  if (absl::Status s = optional_string("intent", &r.intent); !s.ok()) return s;
  std::string lang;
  if (absl::Status s = optional_string("lang", &lang); !s.ok()) return s;
  if (!lang.empty()) {
    core::Lang l;
    if (!core::ParseLang(lang, &l)) {
      return Bad(absl::StrCat("'lang' must be en, ja or mixed, not '", lang.substr(0, 20), "'"));
    }
    r.lang = l;
  }
  if (absl::Status s = optional_string("canonical_id", &r.canonical_id); !s.ok()) return s;
  simdjson::dom::element out_el;
  if (obj.at_key("output_tokens").get(out_el) == simdjson::SUCCESS && !out_el.is_null()) {
    int64_t n = 0;
    if (out_el.get(n) != simdjson::SUCCESS) return Bad("'output_tokens' must be an integer");
    if (n < 0 || n > kMaxOutputTokens) {
      return Bad(absl::StrCat("'output_tokens' ", n, " is outside [0, ", kMaxOutputTokens, "]"));
    }
    r.output_tokens = n;
  }
  return r;
}

TraceReader::TraceReader(std::istream* in) : in_(in) {}

TraceReader::Result TraceReader::Next(TraceRecord* record, std::string* error) {
  while (std::getline(*in_, line_buf_)) {
    ++line_;
    bytes_ += static_cast<int64_t>(line_buf_.size()) + 1;
    std::string_view line = line_buf_;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    bool blank = true;
    for (char c : line) {
      if (c != ' ' && c != '\t') {
        blank = false;
        break;
      }
    }
    if (blank) continue;
    absl::StatusOr<TraceRecord> r = parser_.Parse(line);
    if (!r.ok()) {
      *error = absl::StrCat("line ", line_, ": ", r.status().message());
      return Result::kBadLine;
    }
    *record = *std::move(r);
    return Result::kRecord;
  }
  return Result::kEnd;
}

}  // namespace mangaassist::replay
