#include "core/language.h"

#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace mangaassist::core {
namespace {

TEST(LanguageTest, FollowsTheLabelRules) {
  EXPECT_EQ(DetectLanguage("Is One Piece vol 105 in stock?"), Lang::kEn);
  EXPECT_EQ(DetectLanguage("konnichiwa"), Lang::kEn);
  EXPECT_EQ(DetectLanguage(""), Lang::kEn);
  EXPECT_EQ(DetectLanguage("😀😀"), Lang::kEn);
  EXPECT_EQ(DetectLanguage("こんにちは"), Lang::kJa);
  EXPECT_EQ(DetectLanguage("鬼滅の刃の最新刊"), Lang::kJa);
  EXPECT_EQ(DetectLanguage("Dandadanの新刊はいつ？"), Lang::kMixed);
  EXPECT_EQ(DetectLanguage("SPY×FAMILYの12巻"), Lang::kMixed);
}

TEST(LanguageTest, CodesAndSingleLettersAreNotEnglishWords) {
  EXPECT_EQ(DetectLanguage("MA-2025-004512の注文はどこ？"), Lang::kJa);
  EXPECT_EQ(DetectLanguage("ＭＡ－２０２５－００４５１２の注文"), Lang::kJa);
  EXPECT_EQ(DetectLanguage("SPRING25のクーポン使えますか"), Lang::kJa);
  EXPECT_EQ(DetectLanguage("d払いできますか"), Lang::kJa);
  EXPECT_EQ(DetectLanguage("¥1,320で買えますか"), Lang::kJa);
}

TEST(LanguageTest, InvalidBytesAreSkippedNotFatal) {
  std::string s = "abc\xff\xfe日本";
  EXPECT_EQ(DetectLanguage(s), Lang::kMixed);
}

TEST(LanguageTest, AgreesWithTheLabelledIntentData) {
  std::ifstream in(std::string(MANGAASSIST_SHARED_DIR) + "/data/intent/dev.jsonl");
  if (!in) GTEST_SKIP() << "shared intent data not present";
  std::string line;
  int total = 0, agree = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    Lang want;
    ASSERT_TRUE(ParseLang(j["lang"].get<std::string>(), &want));
    ++total;
    if (DetectLanguage(j["text"].get<std::string>()) == want) ++agree;
  }
  ASSERT_GT(total, 300);
  EXPECT_GE(agree * 100, total * 97) << agree << "/" << total;
}

}  // namespace
}  // namespace mangaassist::core
