// Encoding of CostEvent: one JSON object per event (the wire and archive format: spool records,
// Redis Stream entries, the SQLite/PostgreSQL `raw` column), with `schema_version` first.
// Decoding refuses an unknown major schema version explicitly (FailedPrecondition) rather than
// misreading it. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "telemetry/event.h"

namespace mangaassist::telemetry {

std::string EncodeCostEventJson(const CostEvent& event);
// InvalidArgument for malformed JSON or fields of the wrong type; FailedPrecondition for a
// schema_version this build does not know.
absl::StatusOr<CostEvent> DecodeCostEventJson(std::string_view json);

}  // namespace mangaassist::telemetry
