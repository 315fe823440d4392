#include "core/ids.h"

#include <chrono>
#include <set>
#include <string>

#include "gtest/gtest.h"

namespace mangaassist::core {
namespace {

TEST(IdsTest, NewRequestIdIsUuidV7TimeOrderedAndUnique) {
  std::set<std::string> seen;
  const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::string previous_ms;
  for (int i = 0; i < 2000; ++i) {
    std::string id = NewRequestId();
    ASSERT_EQ(id.size(), 36u);
    EXPECT_EQ(id[8], '-');
    EXPECT_EQ(id[14], '7');
    // The first 48 bits are the creation time in Unix milliseconds, never decreasing.
    std::string ms_hex = id.substr(0, 8) + id.substr(9, 4);
    const long long ms = std::stoll(ms_hex, nullptr, 16);
    EXPECT_GE(ms, before);
    EXPECT_LE(ms, before + 60'000);
    EXPECT_GE(ms_hex, previous_ms);
    previous_ms = ms_hex;
    EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b') << id;
    EXPECT_TRUE(IsValidRequestId(id));
    EXPECT_TRUE(seen.insert(id).second) << "duplicate " << id;
  }
}

TEST(IdsTest, ValidatesClientRequestIds) {
  EXPECT_TRUE(IsValidRequestId("abc-123_X.y"));
  EXPECT_TRUE(IsValidRequestId(std::string(128, 'a')));
  EXPECT_FALSE(IsValidRequestId(std::string(129, 'a')));
  EXPECT_FALSE(IsValidRequestId(""));
  EXPECT_FALSE(IsValidRequestId("has space"));
  EXPECT_FALSE(IsValidRequestId("new\nline"));
  EXPECT_FALSE(IsValidRequestId("日本"));
}

}  // namespace
}  // namespace mangaassist::core
