// Where KPI reports read their rollups from, shared by `mangaassist report` and GET /admin/kpi:
// the embedded SQLite store of a config (telemetry.sqlite_path), or PostgreSQL (a conninfo: the
// distributed store the shipper fills). Opened for reading only: retention is off, so a report
// never deletes anything.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/config.h"
#include "telemetry/kpi.h"
#include "telemetry/sink.h"

namespace mangaassist::telemetry {

// Unix milliseconds, or an RFC 3339 time ("2025-01-31T00:00:00Z"; offsets and fractions too).
// InvalidArgument otherwise.
absl::StatusOr<int64_t> ParseReportTime(const std::string& text);

// PostgreSQL when `postgres_conninfo` is set, else the config's SQLite file. NotFound when that
// file does not exist (rather than creating an empty database); Unavailable when PostgreSQL
// cannot be reached.
absl::StatusOr<std::unique_ptr<EventSink>> OpenReportSink(const core::Config& config,
                                                          const std::string& postgres_conninfo);

// The report over [from_ms, to_ms) from `sink`, judged against the config's pipeline stages.
// InvalidArgument unless from_ms < to_ms.
// `intent`: US-02's classifier figures (pipeline/intent_kpi.h), or null.
absl::StatusOr<KpiReport> LoadKpiReport(EventSink& sink, const core::Config& config,
                                        int64_t from_ms, int64_t to_ms,
                                        const IntentKpiInputs* intent = nullptr);

}  // namespace mangaassist::telemetry
