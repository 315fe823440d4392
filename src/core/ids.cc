#include "core/ids.h"

#include <openssl/rand.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>

namespace mangaassist::core {
namespace {

// Draws CSPRNG bytes in batches: one RAND_bytes call per 256 ids keeps the hot path cheap.
class IdPool {
 public:
  void Next(uint8_t out[16]) {
    if (pos_ == buf_.size()) {
      if (RAND_bytes(buf_.data(), static_cast<int>(buf_.size())) != 1) {
        std::abort();  // The CSPRNG failing is a "cannot happen" environment failure.
      }
      pos_ = 0;
    }
    for (int i = 0; i < 16; ++i) out[i] = buf_[pos_ + i];
    pos_ += 16;
  }

 private:
  std::array<uint8_t, 16 * 256> buf_{};
  size_t pos_ = buf_.size();
};

}  // namespace

std::string NewRequestId() {
  thread_local IdPool pool;
  uint8_t b[16];
  pool.Next(b);
  // UUIDv7 (RFC 9562 §5.7): 48-bit Unix milliseconds, then 74 random bits.
  const auto ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count());
  for (int i = 0; i < 6; ++i) b[i] = static_cast<uint8_t>(ms >> (40 - 8 * i));
  b[6] = (b[6] & 0x0F) | 0x70;  // version 7
  b[8] = (b[8] & 0x3F) | 0x80;  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(36, '-');
  size_t o = 0;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) ++o;
    out[o++] = kHex[b[i] >> 4];
    out[o++] = kHex[b[i] & 0xF];
  }
  return out;
}

bool IsValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdLength) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace mangaassist::core
