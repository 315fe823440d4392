// `mangaassist trace gen`: writes a synthetic manga-store chat trace (SPEC §6 JSONL) to a file or
// stdout, deterministic by seed (replay/generator.h). `mangaassist replay TRACE`: replays a trace
// through the baseline and the optimized pipeline and prints the Unified KPI Rollup
// (replay/replay.h).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace mangaassist::cli {

struct TraceGenOptions {
  uint64_t seed = 1;
  int64_t messages = 10'000;
  int days = 7;
  std::string out = "-";   // "-" = stdout
  std::string profile;     // YAML over the defaults (config/trace-profile.yaml)
  std::string catalog;     // default: the configured catalog (data/catalog/catalog.jsonl)
  std::string start_date;  // overrides the profile's start_date
  bool quiet = false;      // no progress bar
};

// 0 on success, 2 on a usage or profile error, 1 when writing fails.
int RunTraceGen(const TraceGenOptions& options, std::ostream& out, std::ostream& err);

struct ReplayOptions {
  std::string trace;            // path, or "-" for stdin
  std::string config;           // optimized gateway config (default config/replay.yaml)
  std::string baseline_config;  // baseline gateway config (default config/replay-baseline.yaml)
  std::string routes;           // ground-truth route table (default config/replay-routes.yaml)
  std::vector<std::string> disable;  // US-0N, repeatable
  std::string json_path;
  std::string html_path;
  bool strict = false;
  std::string scenario;       // burst10x | runaway | redis-outage | provider-brownout
  std::string daily_cap_usd;  // decimal USD; default 5000 (the seed's cap)
  int brownout_permille = 300;
  bool deterministic = false;  // elapsed_s and throughput written as null
  bool quiet = false;          // no progress bar
};

// 0 on success; 2 on a usage or config error; 3 when --strict stopped at a bad line.
int RunReplay(const ReplayOptions& options, std::ostream& out, std::ostream& err);

}  // namespace mangaassist::cli
