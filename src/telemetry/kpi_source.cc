#include "telemetry/kpi_source.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "telemetry/pg_sink.h"
#include "telemetry/sqlite_sink.h"

namespace mangaassist::telemetry {

absl::StatusOr<int64_t> ParseReportTime(const std::string& text) {
  int64_t ms = 0;
  if (absl::SimpleAtoi(text, &ms)) return ms;
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "': expected RFC 3339 (2025-01-31T00:00:00Z) or unix milliseconds (",
                     error, ")"));
  }
  return absl::ToUnixMillis(t);
}

absl::StatusOr<std::unique_ptr<EventSink>> OpenReportSink(const core::Config& config,
                                                          const std::string& postgres_conninfo) {
  if (!postgres_conninfo.empty()) {
    PostgresSinkOptions o;
    o.conninfo = postgres_conninfo;
    o.retention_days = 0;
    return NewPostgresSink(o);
  }
  SqliteSinkOptions o;
  o.path = config.DataPath(config.telemetry.sqlite_path);
  o.retention_days = 0;
  std::error_code ec;
  if (!std::filesystem::exists(o.path, ec)) {
    return absl::NotFoundError(absl::StrCat("no telemetry database at ", o.path,
                                            " (telemetry.sqlite_path of ", config.source,
                                            "); no cost event has been recorded there yet"));
  }
  return NewSqliteSink(o);
}

absl::StatusOr<KpiReport> LoadKpiReport(EventSink& sink, const core::Config& config,
                                        int64_t from_ms, int64_t to_ms,
                                        const IntentKpiInputs* intent) {
  if (from_ms >= to_ms) return absl::InvalidArgumentError("`from` must be before `to`");
  auto rollups = sink.Rollups(from_ms, to_ms);
  if (!rollups.ok()) return rollups.status();
  return ComputeKpi(*rollups, config.pipeline.stages, from_ms, to_ms, intent);
}

}  // namespace mangaassist::telemetry
