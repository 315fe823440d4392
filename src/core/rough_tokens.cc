#include "core/rough_tokens.h"

#include <cstring>

namespace mangaassist::core {
namespace {

// How many bytes of `m` have their high bit set, `m` having no other bits: each byte's bit
// moved to its bit 0, then all eight summed into the top byte by one multiplication (the build
// targets x86-64 without POPCNT, where std::popcount is a library call).
int ByteCount(uint64_t m) {
  return static_cast<int>(((m >> 7) * 0x0101010101010101ULL) >> 56);
}

}  // namespace

int64_t RoughTokenCount(std::string_view text) {
  // Eight bytes at a time: ASCII bytes have the high bit clear; continuation bytes are 10xxxxxx
  // (high bit set, bit 6 clear, tested by shifting bit 6 of each byte into its bit 7).
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  int64_t ascii = 0;
  int64_t other = 0;
  size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, text.data() + i, 8);
    const uint64_t high = w & kHigh;
    ascii += 8 - ByteCount(high);
    other += ByteCount(high & (w << 1));  // lead bytes: 11xxxxxx
  }
  for (; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++ascii;
    } else if ((c & 0xC0) != 0x80) {
      ++other;  // the lead byte of a multi-byte character
    }
  }
  const int64_t tokens = (ascii + 3) / 4 + other;
  return text.empty() ? 0 : (tokens > 0 ? tokens : 1);
}

}  // namespace mangaassist::core
