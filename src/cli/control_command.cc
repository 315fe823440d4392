#include "cli/control_command.h"

#include <cstdlib>
#include <iomanip>
#include <ostream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "control/configured.h"
#include "control/control_json.h"
#include "core/config.h"
#include "core/ids.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace mangaassist::cli {
namespace {

absl::StatusOr<core::Config> LoadConfig(const std::string& path) {
  // Log lines (a flag source that is down, ...) go to stderr: stdout is the command's output,
  // JSON with --json.
  static const bool once = [] {
    spdlog::set_default_logger(spdlog::stderr_color_mt("mangaassist-control"));
    return true;
  }();
  (void)once;
  return path.empty() ? absl::StatusOr<core::Config>(core::DefaultConfig())
                      : core::LoadConfigFile(path);
}

const char* Bool(bool b) { return b ? "true" : "false"; }

// What `flags` subcommands share: the config, its audit log and its evaluator.
struct Control {
  core::Config config;
  std::unique_ptr<control::AuditLog> audit;
  std::unique_ptr<control::FlagEvaluator> flags;
};

// 0 with `c` filled, else the exit code (the message is written).
int OpenControl(const std::string& command, const std::string& config_path, bool with_audit,
                Control* c, std::ostream& err) {
  auto cfg = LoadConfig(config_path);
  if (!cfg.ok()) {
    err << "mangaassist " << command << ": " << cfg.status().message() << "\n";
    return 2;
  }
  c->config = *std::move(cfg);
  if (with_audit) {
    auto audit = control::OpenConfiguredAuditLog(c->config, nullptr);
    if (!audit.ok()) {
      err << "mangaassist " << command << ": " << audit.status().message() << "\n";
      return 2;
    }
    c->audit = *std::move(audit);
  }
  auto flags = control::MakeConfiguredFlagEvaluator(c->config, c->audit.get(), nullptr, nullptr);
  if (!flags.ok()) {
    err << "mangaassist " << command << ": " << flags.status().message() << "\n";
    return 2;
  }
  c->flags = *std::move(flags);
  return 0;
}

void SourceLine(const control::FlagSnapshot& s, std::string_view source, std::ostream& out) {
  out << "source: " << source;
  if (s.source_ok) {
    out << " (ok)";
  } else {
    out << " (UNAVAILABLE: " << s.source_error
        << " — the seed's safe defaults apply: every optimization off)";
  }
  out << ", version " << s.version << "\n";
}

}  // namespace

int RunFlagsList(const FlagsOptions& options, std::ostream& out, std::ostream& err) {
  Control c;
  if (int rc = OpenControl("flags list", options.config_path, false, &c, err); rc != 0) return rc;
  auto snapshot = c.flags->Current();
  if (options.json) {
    out << control::FlagsJson(*snapshot, c.flags->source()).dump(2) << "\n";
    return 0;
  }
  SourceLine(*snapshot, c.flags->source(), out);
  out << std::left << std::setw(40) << "FLAG" << std::setw(7) << "VALUE" << std::setw(10)
      << "RESOLVED"
      << "DEFAULT\n";
  for (const control::FlagInfo& f : control::FlagRegistry()) {
    out << std::left << std::setw(40) << f.name << std::setw(7)
        << Bool(snapshot->Value(f.name).value_or(false)) << std::setw(10)
        << Bool(snapshot->Resolved(f.name).value_or(false)) << Bool(f.default_value) << "\n";
  }
  return 0;
}

int RunFlagsGet(const FlagsOptions& options, std::ostream& out, std::ostream& err) {
  const control::FlagInfo* info = control::FindFlag(options.name);
  if (info == nullptr) {
    err << "mangaassist flags get: unknown flag '" << options.name
        << "' (mangaassist flags list shows them)\n";
    return 2;
  }
  Control c;
  if (int rc = OpenControl("flags get", options.config_path, false, &c, err); rc != 0) return rc;
  auto snapshot = c.flags->Current();
  if (options.json) {
    nlohmann::json j = control::FlagJson(*snapshot, *info);
    j["source"] = std::string(c.flags->source());
    j["source_ok"] = snapshot->source_ok;
    out << j.dump(2) << "\n";
    return 0;
  }
  out << info->name << " = " << Bool(snapshot->Value(info->name).value_or(false)) << " (resolved "
      << Bool(snapshot->Resolved(info->name).value_or(false)) << ", default "
      << Bool(info->default_value) << ")\n";
  SourceLine(*snapshot, c.flags->source(), out);
  return 0;
}

int RunFlagsSet(const FlagsOptions& options, std::ostream& out, std::ostream& err) {
  if (control::FindFlag(options.name) == nullptr) {
    err << "mangaassist flags set: unknown flag '" << options.name
        << "' (mangaassist flags list shows them)\n";
    return 2;
  }
  const std::string v = absl::AsciiStrToLower(options.value);
  if (v != "true" && v != "false") {
    err << "mangaassist flags set: the value must be true or false, not '" << options.value
        << "'\n";
    return 2;
  }
  if (options.reason.empty()) {
    err << "mangaassist flags set: --reason is required (it goes into the audit trail)\n";
    return 2;
  }
  Control c;
  if (int rc = OpenControl("flags set", options.config_path, true, &c, err); rc != 0) return rc;
  if (c.flags->source() == "config") {
    err << "mangaassist flags set: flags.source is `config`: a change would last only for this "
           "command. Use PUT /admin/flags on the running gateway, or set flags.source to file or "
           "redis\n";
    return 2;
  }
  control::AuditContext who;
  who.actor = options.actor;
  if (who.actor.empty()) {
    const char* user = std::getenv("USER");
    who.actor = user != nullptr && *user != '\0' ? user : "unknown";
  }
  who.reason = options.reason;
  who.request_id = core::NewRequestId();
  absl::Status s = c.flags->Set(options.name, v == "true", who);
  if (!s.ok()) {
    err << "mangaassist flags set: " << s.message() << "\n";
    return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  out << options.name << " = " << v << " (source " << c.flags->source() << ", audited as "
      << who.actor << ", request " << who.request_id << ")\n";
  return 0;
}

int RunAuditVerify(const AuditOptions& options, std::ostream& out, std::ostream& err) {
  auto cfg = LoadConfig(options.config_path);
  if (!cfg.ok()) {
    err << "mangaassist audit verify: " << cfg.status().message() << "\n";
    return 2;
  }
  auto log = control::OpenConfiguredAuditLog(*cfg, nullptr);
  if (!log.ok()) {
    err << "mangaassist audit verify: " << log.status().message() << "\n";
    return 2;
  }
  auto result = control::VerifyWithAnchor(**log, options.expect_head);
  if (!result.ok()) {
    err << "mangaassist audit verify: " << result.status().message() << "\n";
    return 2;
  }
  if (options.json) {
    out << control::VerifyResultJson(*result).dump(2) << "\n";
  } else if (result->ok) {
    out << "audit trail intact: " << result->entries << " entries, head " << result->head_hash
        << "\n";
  } else {
    out << "audit trail BROKEN at seq " << result->first_bad_seq << ": " << result->problem << " ("
        << result->entries << " entries read)\n";
  }
  return result->ok ? 0 : 1;
}

int RunAuditList(const AuditOptions& options, std::ostream& out, std::ostream& err) {
  if (options.limit < 1 || options.after < 0) {
    err << "mangaassist audit list: --limit must be ≥ 1 and --after ≥ 0\n";
    return 2;
  }
  auto cfg = LoadConfig(options.config_path);
  if (!cfg.ok()) {
    err << "mangaassist audit list: " << cfg.status().message() << "\n";
    return 2;
  }
  auto log = control::OpenConfiguredAuditLog(*cfg, nullptr);
  if (!log.ok()) {
    err << "mangaassist audit list: " << log.status().message() << "\n";
    return 2;
  }
  auto entries = (*log)->List(options.after, options.limit);
  if (!entries.ok()) {
    err << "mangaassist audit list: " << entries.status().message() << "\n";
    return 2;
  }
  if (options.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const control::AuditEntry& e : *entries) list.push_back(control::AuditEntryJson(e));
    out << list.dump(2) << "\n";
    return 0;
  }
  for (const control::AuditEntry& e : *entries) {
    out << e.seq << "  "
        << absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(e.ts_ms),
                            absl::UTCTimeZone())
        << "  " << e.record.who.actor << "  " << e.record.action << " " << e.record.subject << " "
        << e.record.before << " -> " << e.record.after << "  \"" << e.record.who.reason << "\"  ["
        << e.record.who.request_id << "]  " << e.hash.substr(0, 12) << "\n";
  }
  return 0;
}

}  // namespace mangaassist::cli
