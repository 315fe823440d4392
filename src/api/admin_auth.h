// AdminAuth: the admin-key check every /admin/* endpoint shares (SPEC §3). Keys are configured
// only as hex SHA-256 digests (admin.keys_sha256), so the config never holds a usable secret; a
// request presents the key itself in `Authorization: Bearer KEY` or `X-Admin-Key: KEY`, and its
// digest is compared with every configured digest in constant time (CRYPTO_memcmp, no early
// exit). Without configured keys the admin surface is off. Immutable after Create(); thread-safe.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "http/server.h"

namespace mangaassist::api {

class AdminAuth {
 public:
  // InvalidArgument unless every entry is 64 hex characters.
  static absl::StatusOr<AdminAuth> Create(const std::vector<std::string>& keys_sha256_hex);

  // OK for a configured key. PermissionDenied (403) when no admin key is configured;
  // Unauthenticated (401) when the request carries no key or a wrong one.
  absl::Status Check(const http::Request& request) const;
  bool enabled() const { return !digests_.empty(); }

 private:
  std::vector<std::array<unsigned char, 32>> digests_;
};

}  // namespace mangaassist::api
