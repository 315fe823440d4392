// mangaassist: the gateway binary and its tooling (SPEC §3 CLI).
#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"
#include "cli/control_command.h"
#include "cli/intent_command.h"
#include "cli/redact_command.h"
#include "cli/report_command.h"
#include "cli/serve_command.h"
#include "cli/ship_command.h"
#include "cli/trace_command.h"

int main(int argc, char** argv) {
  // Debian's abseil is built with absl::Mutex deadlock detection on, which records every lock
  // order in a global graph (≈ 3% of replay's CPU, on every lock of the server too). The tests,
  // which do not come through here, keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app{"MangaAssist: LLM cost-control gateway for a bilingual manga-store chatbot"};
  app.require_subcommand(1);

  mangaassist::cli::ServeOptions serve;
  auto* serve_cmd = app.add_subcommand("serve", "Run the gateway");
  serve_cmd->add_option("--config", serve.config_path, "YAML config file (default: embedded defaults)");
  serve_cmd->add_option("--listen", serve.listen, "HOST:PORT to listen on (port 0 = any free port)");
  serve_cmd->add_option("--threads", serve.threads, "Worker threads (0 = cores)");

  auto* config_cmd = app.add_subcommand("config", "Configuration tools");
  config_cmd->require_subcommand(1);
  std::string check_path;
  auto* check_cmd = config_cmd->add_subcommand("check", "Validate a config file");
  check_cmd->add_option("file", check_path, "Config file")->required();

  bool redact_jsonl = false;
  auto* redact_cmd = app.add_subcommand(
      "redact", "Redact PII from stdin: one message per line, or JSON lines with a `text` field");
  redact_cmd->add_flag("--jsonl", redact_jsonl,
                       "Read JSONL {text} and write {text, spans:[{type,value,start,end}]}");

  mangaassist::cli::ShipOptions ship;
  auto* ship_cmd = app.add_subcommand(
      "ship", "Drain the cost-event Redis Stream into PostgreSQL (telemetry.sink: redis)");
  ship_cmd->add_option("--postgres", ship.postgres, "libpq conninfo, e.g. 'host=db dbname=ma'")
      ->required();
  ship_cmd->add_option("--redis", ship.redis, "Redis HOST:PORT")->capture_default_str();
  ship_cmd->add_option("--stream", ship.stream, "Stream key")->capture_default_str();
  ship_cmd->add_option("--group", ship.group, "Consumer group")->capture_default_str();
  ship_cmd->add_option("--consumer", ship.consumer, "Consumer name (default: host name)");
  ship_cmd->add_option("--workers", ship.workers,
                       "Shippers in this process (same group, consumers NAME-1..NAME-N)")
      ->capture_default_str();
  ship_cmd->add_option("--batch", ship.batch, "Entries per PostgreSQL transaction")
      ->capture_default_str();
  ship_cmd->add_option("--retention-days", ship.retention_days,
                       "Raw events kept in PostgreSQL (0 = forever)")
      ->capture_default_str();

  mangaassist::cli::ReportOptions report;
  auto* report_cmd = app.add_subcommand(
      "report", "Unified KPI Rollup per story and language from the stored cost events (US-07)");
  report_cmd->add_option("--config", report.config_path,
                         "YAML config file (default: embedded defaults)");
  report_cmd->add_option("--from", report.from,
                         "Window start, RFC 3339 or unix ms (default: --to minus 24 h)");
  report_cmd->add_option("--to", report.to, "Window end, RFC 3339 or unix ms (default: now)");
  report_cmd->add_flag("--json", report.json, "Print JSON instead of the text table");
  report_cmd->add_option("--html", report.html_path, "Also write a self-contained HTML page");
  report_cmd->add_option("--postgres", report.postgres,
                         "Read PostgreSQL (libpq conninfo) instead of the config's SQLite file");

  mangaassist::cli::TraceGenOptions trace_gen;
  auto* trace_cmd = app.add_subcommand("trace", "Synthetic chat traces (SPEC §6)");
  trace_cmd->require_subcommand(1);
  auto* gen_cmd = trace_cmd->add_subcommand(
      "gen", "Write a deterministic synthetic manga-store chat trace (JSONL)");
  gen_cmd->add_option("--seed", trace_gen.seed, "Random seed")->capture_default_str();
  gen_cmd->add_option("--messages", trace_gen.messages, "Messages in the trace")
      ->capture_default_str();
  gen_cmd->add_option("--days", trace_gen.days, "Days the trace spans")->capture_default_str();
  gen_cmd->add_option("--out", trace_gen.out, "Output file ('-' = stdout)")->capture_default_str();
  gen_cmd->add_option("--profile", trace_gen.profile,
                      "YAML profile over the defaults (see config/trace-profile.yaml)");
  gen_cmd->add_option("--catalog", trace_gen.catalog, "Catalog JSONL (default: data/catalog)");
  gen_cmd->add_option("--start", trace_gen.start_date, "First day, YYYY-MM-DD (Asia/Tokyo)");
  gen_cmd->add_flag("--quiet", trace_gen.quiet, "No progress bar");

  mangaassist::cli::ReplayOptions replay;
  auto* replay_cmd = app.add_subcommand(
      "replay", "Replay a trace through the baseline and the optimized pipeline (SPEC §6)");
  replay_cmd->add_option("trace", replay.trace, "Trace JSONL ('-' = stdin)")->required();
  replay_cmd->add_option("--config", replay.config,
                         "Optimized gateway config (default: config/replay.yaml)");
  replay_cmd->add_option("--baseline-config", replay.baseline_config,
                         "Baseline gateway config (default: config/replay-baseline.yaml)");
  replay_cmd->add_option("--routes", replay.routes,
                         "Ground-truth route table (default: config/replay-routes.yaml)");
  replay_cmd->add_option("--disable", replay.disable,
                         "Switch a story off: US-01 … US-08 (repeatable)");
  replay_cmd->add_option("--json", replay.json_path, "Also write the report as JSON");
  replay_cmd->add_option("--html", replay.html_path, "Also write a self-contained HTML page");
  replay_cmd->add_flag("--strict", replay.strict, "Stop at the first bad trace line");
  replay_cmd->add_option("--scenario", replay.scenario,
                         "Stress scenario: burst10x | runaway | redis-outage | provider-brownout");
  replay_cmd->add_option("--daily-cap", replay.daily_cap_usd,
                         "Daily LLM spend cap in USD (default 5000, the seed's)");
  replay_cmd->add_option("--brownout-permille", replay.brownout_permille,
                         "provider-brownout: failing share of attempts, per mille")
      ->capture_default_str();
  replay_cmd->add_flag("--deterministic", replay.deterministic,
                       "Leave wall-clock figures out (elapsed_s null) for byte-identical output");
  replay_cmd->add_flag("--quiet", replay.quiet, "No progress bar");

  mangaassist::cli::FlagsOptions flags;
  auto* flags_cmd = app.add_subcommand(
      "flags", "Feature flags and kill switches (US-08) of the config's flag source");
  flags_cmd->require_subcommand(1);
  auto* flags_list = flags_cmd->add_subcommand("list", "Every flag: value, resolved value, default");
  auto* flags_get = flags_cmd->add_subcommand("get", "One flag");
  flags_get->add_option("name", flags.name, "Flag name")->required();
  auto* flags_set = flags_cmd->add_subcommand(
      "set", "Change a flag in the file or Redis source (audited)");
  flags_set->add_option("name", flags.name, "Flag name")->required();
  flags_set->add_option("value", flags.value, "true | false")->required();
  flags_set->add_option("--reason", flags.reason, "Why (recorded in the audit trail)")->required();
  flags_set->add_option("--actor", flags.actor, "Who (default: $USER)");
  for (CLI::App* sub : {flags_list, flags_get, flags_set}) {
    sub->add_option("--config", flags.config_path, "YAML config file (default: embedded defaults)");
  }
  for (CLI::App* sub : {flags_list, flags_get}) {
    sub->add_flag("--json", flags.json, "Print JSON");
  }

  mangaassist::cli::AuditOptions audit;
  auto* audit_cmd = app.add_subcommand("audit", "The hash-chained audit trail (US-08)");
  audit_cmd->require_subcommand(1);
  auto* audit_verify = audit_cmd->add_subcommand(
      "verify", "Check every link of the chain and the head record (exit 1 when broken)");
  audit_verify->add_option("--expect-head", audit.expect_head,
                           "A head hash recorded earlier that must still be in the chain");
  auto* audit_list = audit_cmd->add_subcommand("list", "Print entries in order");
  audit_list->add_option("--after", audit.after, "Entries after this seq")->capture_default_str();
  audit_list->add_option("--limit", audit.limit, "At most this many")->capture_default_str();
  for (CLI::App* sub : {audit_verify, audit_list}) {
    sub->add_option("--config", audit.config_path, "YAML config file (default: embedded defaults)");
    sub->add_flag("--json", audit.json, "Print JSON");
  }


  mangaassist::cli::IntentTrainOptions intent_train;
  mangaassist::cli::IntentEvalOptions intent_eval;
  mangaassist::cli::IntentClassifyOptions intent_classify;
  auto* intent_cmd = app.add_subcommand("intent", "The in-process intent classifier (US-02)");
  intent_cmd->require_subcommand(1);
  auto* itrain_cmd = intent_cmd->add_subcommand(
      "train", "Train a model from labelled JSONL; refuses one below the precision floor on dev");
  itrain_cmd->add_option("--data", intent_train.data, "Training JSONL {text, intent, lang}")
      ->required();
  itrain_cmd->add_option("--out", intent_train.out, "Model file to write")->required();
  itrain_cmd->add_option("--dev", intent_train.dev,
                         "Dev JSONL for the precision gate (default: data/intent/dev.jsonl)");
  itrain_cmd->add_option("--seed", intent_train.seed, "Random seed")->capture_default_str();
  itrain_cmd->add_option("--epochs", intent_train.epochs, "SGD epochs")->capture_default_str();
  itrain_cmd->add_option("--lr", intent_train.learning_rate, "Initial SGD learning rate")
      ->capture_default_str();
  itrain_cmd->add_option("--threshold", intent_train.threshold,
                         "Confidence threshold to record (default: chosen by cross-validation)");
  itrain_cmd->add_option("--target-precision", intent_train.target_precision,
                         "Cross-validated precision the chosen threshold aims at")
      ->capture_default_str();
  itrain_cmd->add_option("--floor", intent_train.floor, "Minimum precision at threshold on dev")
      ->capture_default_str();
  itrain_cmd->add_flag("--force", intent_train.force, "Write the model even below the floor");
  itrain_cmd->add_flag("--quiet", intent_train.quiet, "No progress");
  auto* ieval_cmd = intent_cmd->add_subcommand("eval", "Measure a model on labelled JSONL");
  ieval_cmd->add_option("--data", intent_eval.data, "Labelled JSONL")->required();
  ieval_cmd->add_option("--model", intent_eval.model,
                        "Model file (default: data/intent/model.bin)");
  ieval_cmd->add_option("--threshold", intent_eval.threshold,
                        "Confidence threshold (default: the model's)");
  ieval_cmd->add_flag("--json", intent_eval.json, "Print JSON");
  auto* iclassify_cmd = intent_cmd->add_subcommand(
      "classify",
      "Classify plain lines or JSONL {text}; writes JSONL {text, intent, confidence, lang}");
  iclassify_cmd->add_option("--model", intent_classify.model,
                            "Model file (default: data/intent/model.bin)");
  iclassify_cmd->add_option("--input", intent_classify.input, "Input file ('-' = stdin)")
      ->capture_default_str();
  iclassify_cmd->add_option("--threshold", intent_classify.threshold,
                            "Confidence threshold (default: the model's)");

  CLI11_PARSE(app, argc, argv);

  if (flags_list->parsed()) return mangaassist::cli::RunFlagsList(flags, std::cout, std::cerr);
  if (flags_get->parsed()) return mangaassist::cli::RunFlagsGet(flags, std::cout, std::cerr);
  if (flags_set->parsed()) return mangaassist::cli::RunFlagsSet(flags, std::cout, std::cerr);
  if (audit_verify->parsed()) return mangaassist::cli::RunAuditVerify(audit, std::cout, std::cerr);
  if (audit_list->parsed()) return mangaassist::cli::RunAuditList(audit, std::cout, std::cerr);

  if (itrain_cmd->parsed()) {
    return mangaassist::cli::RunIntentTrain(intent_train, std::cout, std::cerr);
  }
  if (ieval_cmd->parsed()) {
    return mangaassist::cli::RunIntentEval(intent_eval, std::cout, std::cerr);
  }
  if (iclassify_cmd->parsed()) {
    return mangaassist::cli::RunIntentClassify(intent_classify, std::cin, std::cout, std::cerr);
  }

  if (gen_cmd->parsed()) return mangaassist::cli::RunTraceGen(trace_gen, std::cout, std::cerr);
  if (replay_cmd->parsed()) return mangaassist::cli::RunReplay(replay, std::cout, std::cerr);

  if (ship_cmd->parsed()) return mangaassist::cli::RunShip(ship);
  if (report_cmd->parsed()) return mangaassist::cli::RunReport(report, std::cout, std::cerr);

  if (serve_cmd->parsed()) return mangaassist::cli::RunServe(serve);
  if (check_cmd->parsed()) return mangaassist::cli::RunConfigCheck(check_path);
  if (redact_cmd->parsed()) {
    return mangaassist::cli::RunRedactCommand(redact_jsonl, std::cin, std::cout);
  }
  std::cerr << app.help();
  return 2;
}
