// KeyHasher: the digest behind cache keys and content versions — length-prefixed fields in one
// buffer, hashed at once with XXH3 (one pass is several times faster than streaming many small
// updates). The length prefixes keep two different field lists from sharing an encoding. A
// value type: not thread-safe, one per digest.
#pragma once

#include <xxhash.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace mangaassist::cache {

class KeyHasher {
 public:
  KeyHasher() { buf_.reserve(256); }
  void Field(std::string_view s) {
    Int(static_cast<uint64_t>(s.size()));
    buf_.append(s);
  }
  void Int(uint64_t v) { buf_.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void Float(const std::optional<float>& f) {
    Int(f.has_value() ? 1 : 0);
    if (f.has_value()) {
      uint32_t bits;
      std::memcpy(&bits, &*f, sizeof bits);
      Int(bits);
    }
  }
  XXH128_hash_t Digest() const { return XXH3_128bits(buf_.data(), buf_.size()); }
  uint64_t Digest64() const { return XXH3_64bits(buf_.data(), buf_.size()); }

 private:
  std::string buf_;
};

// Appends `v` as 16 lowercase hex digits.
inline void AppendHex(uint64_t v, std::string* out) {
  constexpr char kHex[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4) out->push_back(kHex[(v >> shift) & 0xf]);
}

}  // namespace mangaassist::cache
