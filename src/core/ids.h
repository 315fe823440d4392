// Request ids: UUIDv4 from OpenSSL's CSPRNG, and validation of client-supplied ids
// (`X-Request-Id`: at most 128 chars of [A-Za-z0-9._-]). Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace mangaassist::core {

inline constexpr size_t kMaxRequestIdLength = 128;

// A new random UUIDv4 in canonical lower-case form (36 chars).
std::string NewRequestId();

// True when `id` is 1..128 characters of [A-Za-z0-9._-].
bool IsValidRequestId(std::string_view id);

}  // namespace mangaassist::core
