#include "cli/report_command.h"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <ostream>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/config.h"
#include "telemetry/kpi.h"
#include "telemetry/pg_sink.h"
#include "telemetry/sqlite_sink.h"

namespace mangaassist::cli {

namespace {

// Unix milliseconds, or an RFC 3339 time ("2025-01-31T00:00:00Z", offsets and fractions too).
bool ParseWhen(const std::string& text, int64_t* ms, std::string* error) {
  if (absl::SimpleAtoi(text, ms)) return true;
  absl::Time t;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, error)) return false;
  *ms = absl::ToUnixMillis(t);
  return true;
}

}  // namespace

int RunReport(const ReportOptions& options, std::ostream& out, std::ostream& err) {
  auto cfg = options.config_path.empty() ? absl::StatusOr<core::Config>(core::DefaultConfig())
                                         : core::LoadConfigFile(options.config_path);
  if (!cfg.ok()) {
    err << "mangaassist report: " << cfg.status().message() << "\n";
    return 2;
  }

  int64_t to_ms = absl::ToUnixMillis(absl::Now());
  if (!options.to.empty()) {
    std::string error;
    if (!ParseWhen(options.to, &to_ms, &error)) {
      err << "mangaassist report: --to '" << options.to
          << "': expected RFC 3339 (2025-01-31T00:00:00Z) or unix milliseconds (" << error << ")\n";
      return 2;
    }
  }
  int64_t from_ms = to_ms - telemetry::kMillisPerDay;
  if (!options.from.empty()) {
    std::string error;
    if (!ParseWhen(options.from, &from_ms, &error)) {
      err << "mangaassist report: --from '" << options.from
          << "': expected RFC 3339 (2025-01-31T00:00:00Z) or unix milliseconds (" << error << ")\n";
      return 2;
    }
  }
  if (from_ms >= to_ms) {
    err << "mangaassist report: --from must be before --to\n";
    return 2;
  }

  absl::StatusOr<std::unique_ptr<telemetry::EventSink>> sink;
  if (!options.postgres.empty()) {
    telemetry::PostgresSinkOptions o;
    o.conninfo = options.postgres;
    o.retention_days = 0;  // the report never writes; never delete anything
    sink = telemetry::NewPostgresSink(o);
  } else {
    telemetry::SqliteSinkOptions o;
    o.path = cfg->DataPath(cfg->telemetry.sqlite_path);
    o.retention_days = 0;
    // NewSqliteSink would create an empty database: say plainly that there is none instead.
    std::error_code ec;
    if (!std::filesystem::exists(o.path, ec)) {
      err << "mangaassist report: no telemetry database at " << o.path
          << " (telemetry.sqlite_path of " << cfg->source
          << "); run the gateway with telemetry.enabled: true first, or pass --postgres\n";
      return 2;
    }
    sink = telemetry::NewSqliteSink(o);
  }
  if (!sink.ok()) {
    err << "mangaassist report: " << sink.status().message() << "\n";
    return 1;
  }
  auto rollups = (*sink)->Rollups(from_ms, to_ms);
  if (!rollups.ok()) {
    err << "mangaassist report: reading rollups: " << rollups.status().message() << "\n";
    return 1;
  }

  telemetry::KpiReport report =
      telemetry::ComputeKpi(*rollups, cfg->pipeline.stages, from_ms, to_ms);
  if (!options.html_path.empty()) {
    std::ofstream html(options.html_path, std::ios::binary | std::ios::trunc);
    html << telemetry::KpiHtml(report);
    html.close();
    if (!html) {
      err << "mangaassist report: cannot write " << options.html_path << "\n";
      return 1;
    }
  }
  out << (options.json ? telemetry::KpiJson(report) : telemetry::KpiText(report));
  out.flush();
  return 0;
}

}  // namespace mangaassist::cli
