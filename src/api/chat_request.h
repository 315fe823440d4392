// Parsing of the native `POST /v1/chat` body into a RequestContext (SPEC §3):
// {session_id, user_id, message, tier?, locale?}. Unknown fields are ignored; wrong types,
// malformed or truncated JSON, invalid UTF-8, non-object bodies and nesting deeper than
// `max_depth` are InvalidArgument errors with a message saying which. Thread-safe (the
// simdjson parser is per thread).
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "core/request_context.h"

namespace mangaassist::api {

absl::Status ParseChatRequest(std::string_view body, int max_depth, core::RequestContext* ctx);

// The native response body for an answered context.
std::string ChatResponseJson(const core::RequestContext& ctx);

}  // namespace mangaassist::api
