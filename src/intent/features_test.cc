#include "intent/features.h"

#include <string>

#include "gtest/gtest.h"

namespace mangaassist::intent {
namespace {

std::vector<uint32_t> Features(std::string_view text, FeatureStats* stats = nullptr) {
  std::vector<uint32_t> f;
  FeatureStats s = ExtractFeatures(text, FeatureOptions(), &f);
  if (stats != nullptr) *stats = s;
  return f;
}

TEST(FeaturesTest, EmptyTextHasNoFeatures) {
  FeatureStats s;
  EXPECT_TRUE(Features("", &s).empty());
  EXPECT_EQ(s.codepoints_read, 0u);
  EXPECT_FALSE(s.truncated);
}

TEST(FeaturesTest, EmojiOnlyIsBoundedAndFeatureless) {
  std::string emoji;
  for (int i = 0; i < 5000; ++i) emoji += "\xF0\x9F\x98\x80";  // U+1F600, 5,000 times
  FeatureStats s;
  std::vector<uint32_t> f = Features(emoji, &s);
  EXPECT_TRUE(f.empty());  // emoji are separators
  EXPECT_EQ(s.codepoints_read, FeatureOptions().max_codepoints);
  EXPECT_TRUE(s.truncated);
}

TEST(FeaturesTest, HugeMessageStopsAtTheCaps) {
  std::string text;
  while (text.size() < 50'000) text += "where is my order 注文はまだ届かないのですか ";
  text.resize(50'000);
  FeatureStats s;
  std::vector<uint32_t> f = Features(text, &s);
  const FeatureOptions o;
  EXPECT_LE(s.codepoints_read, o.max_codepoints);
  EXPECT_LE(f.size(), o.max_features);
  EXPECT_EQ(f.size(), s.features);
  EXPECT_TRUE(s.truncated);
}

TEST(FeaturesTest, BucketsAreInRange) {
  FeatureOptions o;
  o.bucket_bits = 10;
  std::vector<uint32_t> f;
  ExtractFeatures("Where is order MA-2025-004512? 注文が届きません", o, &f);
  ASSERT_FALSE(f.empty());
  for (uint32_t b : f) EXPECT_LT(b, 1u << 10);
}

TEST(FeaturesTest, JapaneseGivesCharacterNgrams) {
  // 届かない: 4 unigrams + 3 bigrams + 2 trigrams + the whole short run.
  EXPECT_EQ(Features("届かない").size(), 10u);
}

TEST(FeaturesTest, DigitsAndCaseAreFolded) {
  EXPECT_EQ(Features("vol 105"), Features("vol 7"));
  EXPECT_EQ(Features("WHERE is it"), Features("where is it"));
  EXPECT_EQ(Features("2巻は"), Features("13巻は"));
  EXPECT_NE(Features("vol 105"), Features("volume 105"));
}

TEST(FeaturesTest, InvalidBytesAreSkipped) {
  EXPECT_EQ(Features("where\xFF\xFE is"), Features("where is"));
}

}  // namespace
}  // namespace mangaassist::intent
