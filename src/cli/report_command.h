// `mangaassist report`: the seed's Unified KPI Rollup (US-07) from the stored hourly rollups —
// per story and per language slice, as text (default) or JSON on stdout, and optionally an HTML
// page. Reads the SQLite file of the config's telemetry (or PostgreSQL with --postgres); never
// writes to it. The rules behind each number are in telemetry/kpi.h.
#pragma once

#include <iosfwd>
#include <string>

namespace mangaassist::cli {

struct ReportOptions {
  std::string config_path;  // empty = embedded defaults
  std::string from;         // RFC 3339 or unix milliseconds; empty = `to` − 24 h
  std::string to;           // RFC 3339 or unix milliseconds; empty = now
  bool json = false;        // JSON instead of the text table
  std::string html_path;    // non-empty: also write the HTML page here
  std::string postgres;     // non-empty: read PostgreSQL (libpq conninfo) instead of SQLite
};

// 0 on success; 2 on a usage or config error or a missing database; 1 when the store fails.
int RunReport(const ReportOptions& options, std::ostream& out, std::ostream& err);

}  // namespace mangaassist::cli
