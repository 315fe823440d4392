// The SQL schema of the event sinks, one definition for SQLite and PostgreSQL (and Amazon
// Redshift for the rollup query). Generated from the column lists below so that the tables, the
// inserts, the rollup query and the C++ bindings can never disagree. Pure; thread-safe.
//
// cost_events — one row per request, request_id PRIMARY KEY (the idempotence key):
//   request_id, ts_ms (unix ms), hour_ms (ts_ms floored to the UTC hour, computed by the writer
//   so the rollup needs no date function), tenant, intent, http_status, degraded_level,
//   the rollup dimensions tier, lang, route (names: "guest", "ja", "haiku"...), model,
//   the measures (below), extra (the JSON of the fields with no column, EncodeCostEventExtraJson).
//   Index on ts_ms.
// cost_events_json — a view: request_id, ts_ms, event (the whole event's JSON, the columns merged
//   with extra; DecodeCostEventJson reads it back). SQL users query fields with ->> / json_extract.
// cost_rollup_hourly — PRIMARY KEY (hour_ms, tier, lang, route, model), requests, measures.
// Measures, all BIGINT / INTEGER, money in integer nano-USD:
//   input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
//   cost_<component>_nusd for each core::CostComponent (cost_llm_input_nusd ... cost_compute_nusd),
//   baseline_nusd, savings_us01_nusd ... savings_us08_nusd.
// docs: the rollup is maintained in the transaction that inserts the raw rows, from exactly the
// rows that insert actually inserted, so a duplicate never counts twice.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "telemetry/event.h"
#include "telemetry/sink.h"

namespace mangaassist::telemetry::sql {

enum class Dialect { kSqlite, kPostgres };

inline constexpr size_t kTokenMeasureCount = 4;
inline constexpr size_t kMeasureCount =
    kTokenMeasureCount + kCostComponentCount + 1 + kCostComponentCount + kStoryCount;

// Measure columns in order (tokens, costs, baseline, savings).
const std::vector<std::string>& MeasureColumns();
// The event's measure values in MeasureColumns() order.
std::array<int64_t, kMeasureCount> MeasuresOf(const CostEvent& event);
// Adds measure values (MeasureColumns() order) into a rollup.
// The measures of a rollup cell, in MeasureColumns() order.
std::array<int64_t, kMeasureCount> MeasuresOfRollup(const HourlyRollup& rollup);
void AddMeasures(const std::array<int64_t, kMeasureCount>& values, HourlyRollup* rollup);

// Sets the dimensions of `rollup` from their stored names (TierName, LangName, RouteName);
// DataLoss for a name this build does not know.
absl::Status ParseDimensions(std::string_view tier, std::string_view lang, std::string_view route,
                             HourlyRollup* rollup);

// Columns of cost_events in insert order: request_id, ts_ms, hour_ms, tenant, intent,
// http_status, degraded_level, tier, lang, route, model, measures..., extra.
const std::vector<std::string>& EventColumns();
inline constexpr size_t kEventTextColumnsBeforeMeasures = 11;

// CREATE TABLE IF NOT EXISTS / CREATE INDEX IF NOT EXISTS statements, the raw → extra rename
// (PostgreSQL; see SqliteSink for SQLite) and the view, `;`-separated.
std::string CreateSchemaSql(Dialect dialect);
// (Re)creates the view cost_events_json (part of CreateSchemaSql).
std::string EventJsonViewSql(Dialect dialect);
// SELECT event FROM cost_events_json WHERE request_id = <p1>, with a `?` or `$1` placeholder.
std::string EventJsonQuerySql(Dialect dialect);

// The rollup of the rows of `source` (a table, or a CTE such as the RETURNING of the insert):
//   SELECT hour_ms, tier, lang, route, model, COUNT(*) AS requests, SUM(m) AS m ...
//   FROM source GROUP BY hour_ms, tier, lang, route, model
// Plain standard SQL on purpose — no date functions, no casts, no FILTER, no `::` — so the same
// query runs unchanged on Amazon Redshift over the same cost_events table.
std::string RollupSelectSql(std::string_view source);

// INSERT INTO cost_rollup_hourly (dims, requests, measures) <select_sql>
// ON CONFLICT (dims) DO UPDATE SET requests = requests + excluded.requests, m = m + excluded.m ...
// SQLite (>= 3.24) and PostgreSQL (>= 9.5) share this syntax. Redshift has no ON CONFLICT: there
// the same RollupSelectSql() feeds a MERGE INTO cost_rollup_hourly.
// `select_sql` is a VALUES list (SQLite, aggregated in C++) or RollupSelectSql() (PostgreSQL;
// its GROUP BY keeps SQLite's SELECT-upsert parsing ambiguity away too).
std::string RollupUpsertSql(std::string_view select_sql);

// SELECT dims, requests, measures FROM cost_rollup_hourly WHERE hour_ms >= <p1> AND hour_ms < <p2>
// with `?` (SQLite) or `$1`/`$2` (PostgreSQL) placeholders.
std::string RollupQuerySql(Dialect dialect);

}  // namespace mangaassist::telemetry::sql
