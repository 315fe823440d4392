// Maps absl::Status codes to HTTP statuses and to the error `type` of the JSON error body.
// One table for the whole gateway; stateless and thread-safe.
#pragma once

#include <string_view>

#include "absl/status/status.h"

namespace mangaassist::core {

// HTTP status for a canonical code: InvalidArgument→400, Unauthenticated→401,
// PermissionDenied→403, NotFound→404, AlreadyExists→409, FailedPrecondition→422,
// OutOfRange→413, ResourceExhausted→429, Cancelled→499, Unavailable→503,
// DeadlineExceeded→504, everything else→500.
int HttpStatusFor(absl::StatusCode code);

// The machine-readable error type in `{"error":{"type":...}}`, e.g. "invalid_request_error".
std::string_view ErrorTypeFor(absl::StatusCode code);

// Builds the canonical error body `{"error":{"type","message","request_id"}}`.
std::string ErrorJson(const absl::Status& status, std::string_view request_id);

}  // namespace mangaassist::core
