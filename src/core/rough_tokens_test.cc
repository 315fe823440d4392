#include "core/rough_tokens.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace mangaassist::core {
namespace {

TEST(RoughTokenCountTest, CountsAsciiByFourAndCodePointsByOne) {
  EXPECT_EQ(RoughTokenCount(""), 0);
  EXPECT_EQ(RoughTokenCount("abcd"), 1);
  EXPECT_EQ(RoughTokenCount("abcde"), 2);
  EXPECT_EQ(RoughTokenCount("在庫"), 2);
  EXPECT_EQ(RoughTokenCount("One Piece 105巻"), 4 + 1);
}

// The count reads eight bytes at a time: it equals the byte-by-byte definition on text of
// every length and mix, ill-formed UTF-8 included.
TEST(RoughTokenCountTest, WordAtATimeEqualsTheBytewiseDefinition) {
  const auto reference = [](std::string_view text) -> int64_t {
    int64_t ascii = 0, other = 0;
    for (const char ch : text) {
      const auto c = static_cast<unsigned char>(ch);
      if (c < 0x80) {
        ++ascii;
      } else if ((c & 0xC0) != 0x80) {
        ++other;
      }
    }
    const int64_t tokens = (ascii + 3) / 4 + other;
    return text.empty() ? 0 : std::max<int64_t>(tokens, 1);
  };
  const std::vector<std::string> pieces = {"a", " ", "在", "é", "😀", "\xff", "\x80", "\xc0", "Z9"};
  uint64_t state = 88172645463325252ULL;  // xorshift: a fixed, reproducible mix
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    const size_t n = state % 40;
    for (size_t k = 0; k < n; ++k) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      text += pieces[state % pieces.size()];
    }
    ASSERT_EQ(RoughTokenCount(text), reference(text)) << text.size() << " bytes";
  }
}

}  // namespace
}  // namespace mangaassist::core
