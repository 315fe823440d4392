#include "cli/report_command.h"

#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <ostream>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/config.h"
#include "telemetry/kpi.h"
#include "pipeline/intent_kpi.h"
#include "telemetry/kpi_source.h"

namespace mangaassist::cli {

int RunReport(const ReportOptions& options, std::ostream& out, std::ostream& err) {
  auto cfg = options.config_path.empty() ? absl::StatusOr<core::Config>(core::DefaultConfig())
                                         : core::LoadConfigFile(options.config_path);
  if (!cfg.ok()) {
    err << "mangaassist report: " << cfg.status().message() << "\n";
    return 2;
  }

  int64_t to_ms = absl::ToUnixMillis(absl::Now());
  if (!options.to.empty()) {
    auto when = telemetry::ParseReportTime(options.to);
    if (!when.ok()) {
      err << "mangaassist report: --to " << when.status().message() << "\n";
      return 2;
    }
    to_ms = *when;
  }
  int64_t from_ms = to_ms - telemetry::kMillisPerDay;
  if (!options.from.empty()) {
    auto when = telemetry::ParseReportTime(options.from);
    if (!when.ok()) {
      err << "mangaassist report: --from " << when.status().message() << "\n";
      return 2;
    }
    from_ms = *when;
  }
  if (from_ms >= to_ms) {
    err << "mangaassist report: --from must be before --to\n";
    return 2;
  }

  auto sink = telemetry::OpenReportSink(*cfg, options.postgres);
  if (!sink.ok()) {
    err << "mangaassist report: " << sink.status().message();
    if (absl::IsNotFound(sink.status())) {
      err << "; run the gateway with telemetry.enabled: true first, or pass --postgres";
    }
    err << "\n";
    return sink.status().code() == absl::StatusCode::kNotFound ? 2 : 1;
  }
  // US-02's classifier figures (no live drift offline); a missing model only loses that row.
  auto intent = pipeline::LoadIntentKpiInputs(*cfg);
  if (!intent.ok()) {
    err << "mangaassist report: US-02: " << intent.status().message() << "\n";
  }
  const telemetry::IntentKpiInputs* in =
      intent.ok() && intent->has_value() ? &**intent : nullptr;
  auto loaded = telemetry::LoadKpiReport(**sink, *cfg, from_ms, to_ms, in);
  if (!loaded.ok()) {
    err << "mangaassist report: reading rollups: " << loaded.status().message() << "\n";
    return 1;
  }
  const telemetry::KpiReport& report = *loaded;
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
