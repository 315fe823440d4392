#include "control/control_json.h"

#include <string>

namespace mangaassist::control {

std::string_view FlagKindName(FlagKind kind) {
  switch (kind) {
    case FlagKind::kDegradation:
      return "kill_switch";
    case FlagKind::kBreaker:
      return "breaker";
    case FlagKind::kStory:
      return "story";
    case FlagKind::kTechnique:
      return "technique";
  }
  return "unknown";
}

nlohmann::json FlagJson(const FlagSnapshot& snapshot, const FlagInfo& info) {
  return {{"name", std::string(info.name)},
          {"kind", std::string(FlagKindName(info.kind))},
          {"story", std::string(StoryPrefix(info.story))},
          {"value", snapshot.Value(info.name).value_or(false)},
          {"resolved", snapshot.Resolved(info.name).value_or(false)},
          {"default", info.default_value},
          {"description", std::string(info.description)}};
}

nlohmann::json FlagsJson(const FlagSnapshot& snapshot, std::string_view source) {
  nlohmann::json out = {{"source", std::string(source)},
                        {"source_ok", snapshot.source_ok},
                        {"version", snapshot.version},
                        {"forced_degradation_level", snapshot.ForcedDegradationLevel()}};
  if (!snapshot.source_ok) out["source_error"] = snapshot.source_error;
  nlohmann::json flags = nlohmann::json::array();
  for (const FlagInfo& f : FlagRegistry()) flags.push_back(FlagJson(snapshot, f));
  out["flags"] = std::move(flags);
  return out;
}

nlohmann::json AuditEntryJson(const AuditEntry& e) {
  return {{"seq", e.seq},
          {"ts_ms", e.ts_ms},
          {"action", e.record.action},
          {"subject", e.record.subject},
          {"before", e.record.before},
          {"after", e.record.after},
          {"actor", e.record.who.actor},
          {"reason", e.record.who.reason},
          {"request_id", e.record.who.request_id},
          {"prev_hash", e.prev_hash},
          {"hash", e.hash}};
}

nlohmann::json VerifyResultJson(const VerifyResult& v) {
  nlohmann::json out = {{"ok", v.ok}, {"entries", v.entries}, {"head_hash", v.head_hash}};
  if (!v.ok) {
    out["first_bad_seq"] = v.first_bad_seq;
    out["problem"] = v.problem;
  }
  return out;
}

}  // namespace mangaassist::control
