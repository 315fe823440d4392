// Encoding of CostEvent: one JSON object per event (the wire and archive format: spool records,
// Redis Stream entries), with `schema_version` first. The event stores keep most fields in
// columns of their own and the rest in `extra` (EncodeCostEventExtraJson); their view
// cost_events_json puts the whole object back together (telemetry/sql/cost_schema.h).
// Decoding refuses an unknown major schema version explicitly (FailedPrecondition) rather than
// misreading it. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "telemetry/event.h"

namespace mangaassist::telemetry {

std::string EncodeCostEventJson(const CostEvent& event);
// The same object without the fields stored in columns (request_id, ts_unix_ms, tenant, tier,
// lang, intent, route, model, usage, http_status, degraded_level and the money): schema_version,
// user_hash, session_hash, intent_confidence, intent_version, provider, flags_hash, redactions,
// stage_latency_us, latency_us. Merged over the columns it decodes as the whole event.
std::string EncodeCostEventExtraJson(const CostEvent& event);
// InvalidArgument for malformed JSON or fields of the wrong type; FailedPrecondition for a
// schema_version this build does not know.
absl::StatusOr<CostEvent> DecodeCostEventJson(std::string_view json);

}  // namespace mangaassist::telemetry
