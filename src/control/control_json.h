// JSON views of the flags and the audit trail, shared by the admin endpoints and the CLI so both
// print the same shapes. Pure functions; thread-safe.
#pragma once

#include <string_view>
#include <vector>

#include "control/audit.h"
#include "control/flags.h"
#include "nlohmann/json.hpp"

namespace mangaassist::control {

// {"source", "source_ok", "source_error"?, "version", "forced_degradation_level",
//  "flags": [{"name", "kind", "story", "value", "resolved", "default", "description"}, ...]}
// in registry order. `value` is the flag's own value, `resolved` its value after precedence.
nlohmann::json FlagsJson(const FlagSnapshot& snapshot, std::string_view source);
// One entry of FlagsJson's "flags" (REQUIRES: info from FlagRegistry()).
nlohmann::json FlagJson(const FlagSnapshot& snapshot, const FlagInfo& info);

// {"seq", "ts_ms", "action", "subject", "before", "after", "actor", "reason", "request_id",
//  "prev_hash", "hash"}
nlohmann::json AuditEntryJson(const AuditEntry& e);
// {"ok", "entries", "head_hash", "first_bad_seq"?, "problem"?}
nlohmann::json VerifyResultJson(const VerifyResult& v);

std::string_view FlagKindName(FlagKind kind);

}  // namespace mangaassist::control
