#include "api/admin_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace mangaassist::api {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The key a request presents, or "" when it presents none.
std::string_view PresentedKey(const http::Request& request) {
  if (auto it = request.find("X-Admin-Key"); it != request.end()) {
    return std::string_view(it->value().data(), it->value().size());
  }
  if (auto it = request.find(boost::beast::http::field::authorization); it != request.end()) {
    std::string_view v(it->value().data(), it->value().size());
    constexpr std::string_view kBearer = "Bearer ";
    if (v.size() > kBearer.size() &&
        absl::EqualsIgnoreCase(absl::string_view(v.data(), kBearer.size()),
                               absl::string_view(kBearer.data(), kBearer.size()))) {
      return v.substr(kBearer.size());
    }
  }
  return {};
}

}  // namespace

absl::StatusOr<AdminAuth> AdminAuth::Create(const std::vector<std::string>& keys_sha256_hex) {
  AdminAuth auth;
  for (const std::string& hex : keys_sha256_hex) {
    std::array<unsigned char, 32> d{};
    bool ok = hex.size() == 64;
    for (size_t i = 0; ok && i < 32; ++i) {
      const int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
      ok = hi >= 0 && lo >= 0;
      d[i] = static_cast<unsigned char>(ok ? hi * 16 + lo : 0);
    }
    if (!ok) {
      return absl::InvalidArgumentError(
          "admin.keys_sha256: entries must be 64 hex characters (the SHA-256 of the key)");
    }
    auth.digests_.push_back(d);
  }
  return auth;
}

absl::Status AdminAuth::Check(const http::Request& request) const {
  if (digests_.empty()) {
    return absl::PermissionDeniedError(
        "the admin API is disabled: no admin.keys_sha256 are configured");
  }
  std::string_view key = PresentedKey(request);
  if (key.empty()) {
    return absl::UnauthenticatedError(
        "an admin key is required (Authorization: Bearer KEY or X-Admin-Key: KEY)");
  }
  unsigned char digest[32];
  unsigned int n = 0;
  // SHA-256 over memory cannot fail short of a broken library.
  if (EVP_Digest(key.data(), key.size(), digest, &n, EVP_sha256(), nullptr) != 1 || n != 32) {
    std::abort();
  }
  // Every configured digest is compared, whatever matched, so timing says nothing about which.
  int matched = 0;
  for (const auto& d : digests_) matched |= CRYPTO_memcmp(digest, d.data(), d.size()) == 0;
  if (!matched) return absl::UnauthenticatedError("the admin key is not valid");
  return absl::OkStatus();
}

}  // namespace mangaassist::api
