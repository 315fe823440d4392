#include "core/language.h"

#include <fstream>
#include <random>
#include <string>

#include "core/normalize.h"

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

// The label rule decoded code point by code point, with no shortcut: what DetectLanguage must
// agree with on any input.
Lang ReferenceLanguage(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  size_t left = text.size();
  bool japanese = false, english_word = false, digit = false, in_token = false;
  int letters = 0;
  auto end_token = [&] {
    if (in_token && letters >= 2 && !digit) english_word = true;
    letters = 0;
    digit = false;
    in_token = false;
  };
  while (left > 0) {
    char32_t c = 0;
    int n = DecodeUtf8(p, left, &c);
    if (n <= 0) {
      ++p;
      --left;
      end_token();
      continue;
    }
    p += n;
    left -= static_cast<size_t>(n);
    bool latin = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                 (c >= 0xFF21 && c <= 0xFF3A) || (c >= 0xFF41 && c <= 0xFF5A) ||
                 (c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7);
    bool dig = (c >= '0' && c <= '9') || (c >= 0xFF10 && c <= 0xFF19);
    bool joiner = c == '-' || c == '\'' || c == 0xFF0D || c == '_';
    if (latin) {
      in_token = true;
      ++letters;
    } else if (dig) {
      in_token = true;
      digit = true;
    } else if (!(in_token && joiner)) {
      end_token();
      if (IsJapaneseCodepoint(c)) japanese = true;
    }
  }
  end_token();
  if (!japanese) return Lang::kEn;
  return english_word ? Lang::kMixed : Lang::kJa;
}

TEST(LanguageTest, AgreesWithThePlainRuleOnRandomText) {
  // Pieces that exercise every branch: kana, kanji, CJK punctuation, Latin (ASCII, accented,
  // full-width), digits, joiners, spaces, and ill-formed sequences shaped like a three-byte
  // character (overlong, surrogate, a lead byte followed by ASCII, a truncated tail).
  const std::vector<std::string> pieces = {
      "の", "漫画", "。", "「", "a", "Bc", "é", "ｘ", "Ｙ", "7", "８", "-", "－", "'", "_", " ",
      "\xE0\x80\x80", "\xED\xA0\x80", "\xE3\x41\x42", "\xE3\x81", "\xEF\xBC\xA1", "\xFF",
      "한", "😀", "\xEE\x80\x80"};
  std::mt19937 rng(7);
  std::uniform_int_distribution<size_t> pick(0, pieces.size() - 1), len(0, 12);
  for (int i = 0; i < 50000; ++i) {
    std::string text;
    for (size_t k = len(rng); k > 0; --k) text += pieces[pick(rng)];
    ASSERT_EQ(DetectLanguage(text), ReferenceLanguage(text)) << "text: " << text;
  }
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
