#include "privacy/sanitize.h"

#include <string>

#include "gtest/gtest.h"

namespace mangaassist::privacy {
namespace {

absl::StatusOr<Sanitized> SanitizeText(std::string_view text, bool original = true) {
  SanitizeOptions opts;
  opts.original_offsets = original;
  return Sanitize(text, opts, Redactor::Default());
}

TEST(SanitizeTest, SpansPointIntoTheOriginalText) {
  std::string in =
      "\xE2\x80\xAE 電話は　０９０－１２３４－５６７８、\nmail\xE2\x80\x8B: "
      "ａ＠ｅｘａｍｐｌｅ．ｊｐ";
  auto r = SanitizeText(in);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->text, "電話は [PHONE]、 mail: [EMAIL]");
  ASSERT_EQ(r->spans.size(), 2u);
  EXPECT_EQ(in.substr(r->spans[0].start, r->spans[0].end - r->spans[0].start),
            "０９０－１２３４－５６７８");
  EXPECT_EQ(in.substr(r->spans[1].start, r->spans[1].end - r->spans[1].start),
            "ａ＠ｅｘａｍｐｌｅ．ｊｐ");
}

TEST(SanitizeTest, WithoutOriginalOffsetsSpansPointIntoTheNormalizedText) {
  auto r = SanitizeText("ＴＥＬ ０３－１２３４－５６７８", false);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->spans.size(), 1u);
  EXPECT_EQ(r->spans[0].start, 4u);
  EXPECT_EQ(r->spans[0].end, 16u);
}

TEST(SanitizeTest, LanguageIgnoresRedactedPii) {
  EXPECT_EQ(SanitizeText("メールアドレスをtaro.yamada@example.comに変更したい")->lang,
            core::Lang::kJa);
  EXPECT_EQ(SanitizeText("住所は123 Main Stです")->lang, core::Lang::kJa);
  EXPECT_EQ(SanitizeText("Dandadanの新刊、a@example.comに連絡ください")->lang, core::Lang::kMixed);
  EXPECT_EQ(SanitizeText("my email is a@example.com")->lang, core::Lang::kEn);
  EXPECT_EQ(SanitizeText("ワンピース１０５巻ありますか")->lang, core::Lang::kJa);
}

// Several placeholders: the text between them is read at the right offsets (placeholders are
// shorter or longer than what they replace), with either kind of span offsets.
TEST(SanitizeTest, LanguageReadsTheTextBetweenManyPlaceholders) {
  const std::string dense =
      "注文MA-2025-004512の配送先を変更したいです。新しい住所は〒150-0002 東京都渋谷区渋谷2-21-1、"
      "電話は０９０－１２３４－５６７８、メールは taro.yamada@example.co.jp です。";
  for (bool original : {true, false}) {
    SCOPED_TRACE(original ? "original offsets" : "normalized offsets");
    auto ja = SanitizeText(dense, original);
    ASSERT_TRUE(ja.ok());
    ASSERT_GE(ja->spans.size(), 3u);
    EXPECT_EQ(ja->lang, core::Lang::kJa);
    // An English word right after the last placeholder, and one right before the first.
    EXPECT_EQ(SanitizeText(dense + " thanks", original)->lang, core::Lang::kMixed);
    EXPECT_EQ(SanitizeText("Hello 〒150-0002 東京都渋谷区渋谷2-21-1、電話は090-1234-5678", original)
                  ->lang,
              core::Lang::kMixed);
    // Only placeholders and Japanese: not English.
    EXPECT_EQ(SanitizeText("a@example.com 090-1234-5678 b@example.jp です", original)->lang,
              core::Lang::kJa);
    // No Japanese at all.
    EXPECT_EQ(SanitizeText("call 090-1234-5678 or a@example.com", original)->lang,
              core::Lang::kEn);
  }
}

TEST(SanitizeTest, CountsByType) {
  auto r = SanitizeText("090-1234-5678 と 03-1234-5678、〒100-0001");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->counts[static_cast<size_t>(PiiType::kPhone)], 2);
  EXPECT_EQ(r->counts[static_cast<size_t>(PiiType::kPostalCode)], 1);
}

TEST(SanitizeTest, ErrorsComeFromNormalization) {
  auto bad = SanitizeText("abc\xff");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);

  SanitizeOptions opts;
  opts.normalize.max_chars = 10;
  auto over = Sanitize("0123456789ab", opts, Redactor::Default());
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), absl::StatusCode::kOutOfRange);

  opts.normalize.on_oversize = core::Oversize::kTruncate;
  auto cut = Sanitize("call 090-1234-5678 now", opts, Redactor::Default());
  ASSERT_TRUE(cut.ok());
  EXPECT_TRUE(cut->truncated);
  EXPECT_EQ(cut->text, "call 090-1");
}

}  // namespace
}  // namespace mangaassist::privacy
