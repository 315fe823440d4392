#include "core/status.h"

#include <string>

#include "nlohmann/json.hpp"

namespace mangaassist::core {

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kInvalidArgument: return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists: return 409;
    case absl::StatusCode::kFailedPrecondition: return 422;
    case absl::StatusCode::kOutOfRange: return 413;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kCancelled: return 499;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    case absl::StatusCode::kUnimplemented: return 501;
    default: return 500;
  }
}

std::string_view ErrorTypeFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument: return "invalid_request_error";
    case absl::StatusCode::kUnauthenticated: return "authentication_error";
    case absl::StatusCode::kPermissionDenied: return "permission_error";
    case absl::StatusCode::kNotFound: return "not_found_error";
    case absl::StatusCode::kAlreadyExists: return "conflict_error";
    case absl::StatusCode::kFailedPrecondition: return "unprocessable_error";
    case absl::StatusCode::kOutOfRange: return "request_too_large";
    case absl::StatusCode::kResourceExhausted: return "rate_limit_error";
    case absl::StatusCode::kCancelled: return "cancelled";
    case absl::StatusCode::kUnavailable: return "overloaded_error";
    case absl::StatusCode::kDeadlineExceeded: return "timeout_error";
    case absl::StatusCode::kUnimplemented: return "not_implemented_error";
    default: return "api_error";
  }
}

std::string ErrorJson(const absl::Status& status, std::string_view request_id) {
  nlohmann::json body = {{"error",
                          {{"type", ErrorTypeFor(status.code())},
                           {"message", std::string(status.message())},
                           {"request_id", std::string(request_id)}}}};
  // Replace invalid UTF-8 (from echoed input) instead of throwing.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace mangaassist::core
