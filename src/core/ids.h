// Request ids: UUIDv7 (time-ordered: a millisecond timestamp, then 74 bits from OpenSSL's
// CSPRNG, so ids sort by creation time and the event stores' primary-key index grows at its end
// instead of at random pages), and validation of client-supplied ids
// (`X-Request-Id`: at most 128 chars of [A-Za-z0-9._-]). Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace mangaassist::core {

inline constexpr size_t kMaxRequestIdLength = 128;

// A new UUIDv7 in canonical lower-case form (36 chars); not guessable (74 random bits).
std::string NewRequestId();

// True when `id` is 1..128 characters of [A-Za-z0-9._-].
bool IsValidRequestId(std::string_view id);

}  // namespace mangaassist::core
