// The audit log and the flag evaluator a whole Config names, with data_dir-relative paths
// resolved the way every other state file is (Config::DataPath) and the audit directory
// created. The gateway's Services and the CLI both open them through here, so `mangaassist
// flags set` acts on exactly the store and source the gateway reads.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "control/audit.h"
#include "control/flags.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/metrics.h"

namespace mangaassist::control {

// The resolved settings (paths made absolute or data_dir-relative; ":memory:" kept).
core::AuditConfig ResolvedAuditConfig(const core::Config& config);
core::FlagsConfig ResolvedFlagsConfig(const core::Config& config);

absl::StatusOr<std::unique_ptr<AuditLog>> OpenConfiguredAuditLog(const core::Config& config,
                                                                 const core::Clock* clock);
// `audit`, `metrics` may be null; see MakeFlagEvaluator.
absl::StatusOr<std::unique_ptr<FlagEvaluator>> MakeConfiguredFlagEvaluator(
    const core::Config& config, AuditLog* audit, const core::Clock* clock, core::Registry* metrics);

}  // namespace mangaassist::control
