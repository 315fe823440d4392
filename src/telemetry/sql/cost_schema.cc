#include "telemetry/sql/cost_schema.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/language.h"
#include "telemetry/event_codec.h"

namespace mangaassist::telemetry {

// HourlyRollup helpers (declared in sink.h) live here with the measure lists they mirror.

void HourlyRollup::Add(const CostEvent& event) {
  ++requests;
  sql::AddMeasures(sql::MeasuresOf(event), this);
}

bool HourlyRollup::operator==(const HourlyRollup& o) const {
  return SameCell(o) && requests == o.requests && tokens.input_tokens == o.tokens.input_tokens &&
         tokens.output_tokens == o.tokens.output_tokens &&
         tokens.cache_read_tokens == o.tokens.cache_read_tokens &&
         tokens.cache_write_tokens == o.tokens.cache_write_tokens && cost == o.cost &&
         baseline == o.baseline && baseline_cost == o.baseline_cost && savings == o.savings;
}

absl::Status EventWriter::Write(const std::vector<CostEvent>& batch) {
  std::vector<EncodedEvent> encoded;
  encoded.reserve(batch.size());
  for (const CostEvent& e : batch) encoded.push_back({e, EncodeCostEventJson(e)});
  return WriteEncoded(encoded);
}

HourlyRollup RollupCellOf(const CostEvent& event) {
  HourlyRollup r;
  r.hour_start_ms = HourStartMs(event.ts_unix_ms);
  r.tier = event.tier;
  r.lang = event.lang;
  r.route = event.route;
  r.model = event.model;
  return r;
}

bool RollupCellLess(const HourlyRollup& a, const HourlyRollup& b) {
  return std::tie(a.hour_start_ms, a.tier, a.lang, a.route, a.model) <
         std::tie(b.hour_start_ms, b.tier, b.lang, b.route, b.model);
}

namespace sql {

namespace {

const char* const kDims = "hour_ms, tier, lang, route, model";

std::string StoryColumn(size_t i) { return absl::StrCat("savings_us0", i + 1, "_nusd"); }

std::string ComponentName(size_t i) {
  return std::string(core::CostComponentName(static_cast<core::CostComponent>(i)));
}
std::string CostColumn(size_t i) { return absl::StrCat("cost_", ComponentName(i), "_nusd"); }
std::string BaselineCostColumn(size_t i) {
  return absl::StrCat("baseline_", ComponentName(i), "_nusd");
}

}  // namespace

const std::vector<std::string>& MeasureColumns() {
  static const std::vector<std::string>* const kColumns = [] {
    auto* v = new std::vector<std::string>{"input_tokens", "output_tokens", "cache_read_tokens",
                                           "cache_write_tokens"};
    for (size_t i = 0; i < kCostComponentCount; ++i) v->push_back(CostColumn(i));
    v->push_back("baseline_nusd");
    for (size_t i = 0; i < kCostComponentCount; ++i) v->push_back(BaselineCostColumn(i));
    for (size_t i = 0; i < kStoryCount; ++i) v->push_back(StoryColumn(i));
    return v;
  }();
  return *kColumns;
}

std::array<int64_t, kMeasureCount> MeasuresOf(const CostEvent& e) {
  std::array<int64_t, kMeasureCount> m{};
  size_t k = 0;
  m[k++] = e.usage.input_tokens;
  m[k++] = e.usage.output_tokens;
  m[k++] = e.usage.cache_read_tokens;
  m[k++] = e.usage.cache_write_tokens;
  for (core::Money c : e.cost) m[k++] = c.nanos();
  m[k++] = e.baseline.nanos();
  for (core::Money c : e.baseline_cost) m[k++] = c.nanos();
  for (core::Money s : e.savings) m[k++] = s.nanos();
  return m;
}

std::array<int64_t, kMeasureCount> MeasuresOfRollup(const HourlyRollup& r) {
  std::array<int64_t, kMeasureCount> m{};
  size_t k = 0;
  m[k++] = r.tokens.input_tokens;
  m[k++] = r.tokens.output_tokens;
  m[k++] = r.tokens.cache_read_tokens;
  m[k++] = r.tokens.cache_write_tokens;
  for (core::Money c : r.cost) m[k++] = c.nanos();
  m[k++] = r.baseline.nanos();
  for (core::Money c : r.baseline_cost) m[k++] = c.nanos();
  for (core::Money s : r.savings) m[k++] = s.nanos();
  return m;
}

void AddMeasures(const std::array<int64_t, kMeasureCount>& m, HourlyRollup* r) {
  size_t k = 0;
  r->tokens.input_tokens += m[k++];
  r->tokens.output_tokens += m[k++];
  r->tokens.cache_read_tokens += m[k++];
  r->tokens.cache_write_tokens += m[k++];
  for (core::Money& c : r->cost) c += core::Money::FromNanos(m[k++]);
  r->baseline += core::Money::FromNanos(m[k++]);
  for (core::Money& c : r->baseline_cost) c += core::Money::FromNanos(m[k++]);
  for (core::Money& s : r->savings) s += core::Money::FromNanos(m[k++]);
}

absl::Status ParseDimensions(std::string_view tier, std::string_view lang, std::string_view route,
                             HourlyRollup* r) {
  if (!core::ParseTier(tier, &r->tier)) {
    return absl::DataLossError(absl::StrCat("unknown tier in rollup: ", std::string(tier)));
  }
  if (!core::ParseLang(lang, &r->lang)) {
    return absl::DataLossError(absl::StrCat("unknown lang in rollup: ", std::string(lang)));
  }
  for (int i = 0; i <= static_cast<int>(core::Route::kSonnet); ++i) {
    auto candidate = static_cast<core::Route>(i);
    if (core::RouteName(candidate) == route) {
      r->route = candidate;
      return absl::OkStatus();
    }
  }
  return absl::DataLossError(absl::StrCat("unknown route in rollup: ", std::string(route)));
}

const std::vector<std::string>& EventColumns() {
  static const std::vector<std::string>* const kColumns = [] {
    auto* v = new std::vector<std::string>{"request_id", "ts_ms",       "hour_ms",        "tenant",
                                           "intent",     "http_status", "degraded_level", "tier",
                                           "lang",       "route",       "model"};
    for (const std::string& m : MeasureColumns()) v->push_back(m);
    v->push_back("extra");
    return v;
  }();
  return *kColumns;
}

std::string CreateSchemaSql(Dialect dialect) {
  const char* big = dialect == Dialect::kSqlite ? "INTEGER" : "BIGINT";
  std::string measures;
  for (const std::string& m : MeasureColumns()) {
    absl::StrAppend(&measures, ",\n  ", m, " ", big, " NOT NULL DEFAULT 0");
  }
  std::string events = absl::StrCat(
      "CREATE TABLE IF NOT EXISTS cost_events (\n"
      "  request_id TEXT PRIMARY KEY,\n"
      "  ts_ms ",
      big,
      " NOT NULL,\n"
      "  hour_ms ",
      big,
      " NOT NULL,\n"
      "  tenant TEXT NOT NULL DEFAULT '',\n"
      "  intent TEXT NOT NULL DEFAULT '',\n"
      "  http_status INTEGER NOT NULL DEFAULT 0,\n"
      "  degraded_level INTEGER NOT NULL DEFAULT 0,\n"
      "  tier TEXT NOT NULL,\n"
      "  lang TEXT NOT NULL,\n"
      "  route TEXT NOT NULL,\n"
      "  model TEXT NOT NULL DEFAULT ''",
      measures, ",\n  extra TEXT NOT NULL\n);\n");
  // Stores created before `extra` had `raw`, the whole event's JSON: renamed, it still merges
  // into the same event in the view (its fields equal the columns'). SQLite has no conditional
  // DDL; its sink renames the column itself (SqliteSink, PRAGMA table_info).
  std::string migrate;
  if (dialect == Dialect::kPostgres) {
    migrate =
        "DO $$ BEGIN\n"
        "  IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = "
        "current_schema() AND table_name = 'cost_events' AND column_name = 'raw') THEN\n"
        "    ALTER TABLE cost_events RENAME COLUMN raw TO extra;\n"
        "  END IF;\n"
        "END $$;\n";
  }
  std::string index = "CREATE INDEX IF NOT EXISTS cost_events_ts ON cost_events (ts_ms);\n";
  std::string rollup = absl::StrCat(
      "CREATE TABLE IF NOT EXISTS cost_rollup_hourly (\n"
      "  hour_ms ",
      big,
      " NOT NULL,\n"
      "  tier TEXT NOT NULL,\n"
      "  lang TEXT NOT NULL,\n"
      "  route TEXT NOT NULL,\n"
      "  model TEXT NOT NULL,\n"
      "  requests ",
      big, " NOT NULL DEFAULT 0", measures, ",\n  PRIMARY KEY (", kDims, ")\n);\n");
  return absl::StrCat(events, migrate, index, rollup, EventJsonViewSql(dialect));
}

std::string EventJsonViewSql(Dialect dialect) {
  const bool pg = dialect == Dialect::kPostgres;
  const char* object = pg ? "jsonb_build_object(" : "json_object(";
  auto members = [](const std::vector<std::pair<std::string, std::string>>& kv) {
    std::vector<std::string> parts;
    for (const auto& [key, expr] : kv) parts.push_back(absl::StrCat("'", key, "', ", expr));
    return absl::StrJoin(parts, ", ");
  };
  std::vector<std::pair<std::string, std::string>> cost, baseline_cost, savings;
  std::vector<std::string> cost_columns;
  for (size_t i = 0; i < kCostComponentCount; ++i) {
    cost_columns.push_back(CostColumn(i));
    cost.emplace_back(ComponentName(i), cost_columns.back());
    baseline_cost.emplace_back(ComponentName(i), BaselineCostColumn(i));
  }
  for (size_t i = 0; i < kStoryCount; ++i) {
    savings.emplace_back(absl::StrCat("us0", i + 1), StoryColumn(i));
  }
  const std::vector<std::pair<std::string, std::string>> top = {
      {"request_id", "request_id"},
      {"ts_unix_ms", "ts_ms"},
      {"tenant", "tenant"},
      {"tier", "tier"},
      {"lang", "lang"},
      {"intent", "intent"},
      {"route", "route"},
      {"model", "model"},
      {"usage", absl::StrCat(object,
                             members({{"input_tokens", "input_tokens"},
                                      {"output_tokens", "output_tokens"},
                                      {"cache_read_tokens", "cache_read_tokens"},
                                      {"cache_write_tokens", "cache_write_tokens"}}),
                             ")")},
      {"http_status", "http_status"},
      {"degraded_level", "degraded_level"},
      {"cost_nanos", absl::StrCat(object, members(cost), ")")},
      {"total_nanos", absl::StrCat("(", absl::StrJoin(cost_columns, " + "), ")")},
      {"baseline_nanos", "baseline_nusd"},
      {"baseline_cost_nanos", absl::StrCat(object, members(baseline_cost), ")")},
      {"savings_nanos", absl::StrCat(object, members(savings), ")")},
  };
  const std::string columns = absl::StrCat(object, members(top), ")");
  if (pg) {
    return absl::StrCat(
        "CREATE OR REPLACE VIEW cost_events_json AS SELECT request_id, ts_ms, CAST(", columns,
        " || CAST(extra AS jsonb) AS text) AS event FROM cost_events;\n");
  }
  return absl::StrCat("DROP VIEW IF EXISTS cost_events_json;\n",
                      "CREATE VIEW cost_events_json AS SELECT request_id, ts_ms, json_patch(",
                      columns, ", extra) AS event FROM cost_events;\n");
}

std::string EventJsonQuerySql(Dialect dialect) {
  return absl::StrCat("SELECT event FROM cost_events_json WHERE request_id = ",
                      dialect == Dialect::kPostgres ? "$1" : "?");
}

std::string RollupSelectSql(std::string_view source) {
  std::string out = absl::StrCat("SELECT ", kDims, ", COUNT(*) AS requests");
  for (const std::string& m : MeasureColumns()) absl::StrAppend(&out, ", SUM(", m, ") AS ", m);
  absl::StrAppend(&out, " FROM ", std::string(source), " GROUP BY ", kDims);
  return out;
}

std::string RollupUpsertSql(std::string_view select_sql) {
  std::string out = absl::StrCat("INSERT INTO cost_rollup_hourly (", kDims, ", requests, ",
                                 absl::StrJoin(MeasureColumns(), ", "), ") ",
                                 std::string(select_sql), " ON CONFLICT (", kDims,
                                 ") DO UPDATE SET requests = cost_rollup_hourly.requests + "
                                 "excluded.requests");
  for (const std::string& m : MeasureColumns()) {
    absl::StrAppend(&out, ", ", m, " = cost_rollup_hourly.", m, " + excluded.", m);
  }
  return out;
}

std::string RollupQuerySql(Dialect dialect) {
  const bool lite = dialect == Dialect::kSqlite;
  return absl::StrCat("SELECT ", kDims, ", requests, ", absl::StrJoin(MeasureColumns(), ", "),
                      " FROM cost_rollup_hourly WHERE hour_ms >= ", lite ? "?" : "$1",
                      " AND hour_ms < ", lite ? "?" : "$2");
}

}  // namespace sql
}  // namespace mangaassist::telemetry
