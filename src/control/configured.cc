#include "control/configured.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace mangaassist::control {

core::AuditConfig ResolvedAuditConfig(const core::Config& config) {
  core::AuditConfig audit = config.audit;
  if (audit.store == "sqlite" && audit.sqlite_path != ":memory:") {
    audit.sqlite_path = config.DataPath(audit.sqlite_path);
  }
  return audit;
}

core::FlagsConfig ResolvedFlagsConfig(const core::Config& config) {
  core::FlagsConfig flags = config.flags;
  if (flags.source == "file" && !flags.file.empty()) flags.file = config.DataPath(flags.file);
  return flags;
}

absl::StatusOr<std::unique_ptr<AuditLog>> OpenConfiguredAuditLog(const core::Config& config,
                                                                 const core::Clock* clock) {
  core::AuditConfig audit = ResolvedAuditConfig(config);
  if (audit.store == "sqlite" && audit.sqlite_path != ":memory:") {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(audit.sqlite_path).parent_path(), ec);
  }
  auto log = OpenAuditLog(audit, clock);
  if (!log.ok()) {
    return absl::Status(log.status().code(), absl::StrCat("audit: ", log.status().message()));
  }
  return log;
}

absl::StatusOr<std::unique_ptr<FlagEvaluator>> MakeConfiguredFlagEvaluator(
    const core::Config& config, AuditLog* audit, const core::Clock* clock,
    core::Registry* metrics) {
  auto evaluator = MakeFlagEvaluator(ResolvedFlagsConfig(config), audit, clock, metrics);
  if (!evaluator.ok()) {
    return absl::Status(evaluator.status().code(),
                        absl::StrCat("flags: ", evaluator.status().message()));
  }
  return evaluator;
}

}  // namespace mangaassist::control
