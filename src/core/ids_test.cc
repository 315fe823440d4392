#include "core/ids.h"

#include <set>

#include "gtest/gtest.h"

namespace mangaassist::core {
namespace {

TEST(IdsTest, NewRequestIdIsUuidV4AndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 2000; ++i) {
    std::string id = NewRequestId();
    ASSERT_EQ(id.size(), 36u);
    EXPECT_EQ(id[8], '-');
    EXPECT_EQ(id[14], '4');
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
