#include "core/normalize.h"

#include <chrono>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "core/utf8.h"
#include "gtest/gtest.h"
#include "utf8proc.h"

namespace mangaassist::core {
namespace {

std::string Norm(std::string_view in) {
  auto r = Normalize(in);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->text : std::string("<error>");
}

std::string Utf8(char32_t cp) {
  utf8proc_uint8_t tmp[4];
  auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), tmp);
  return std::string(reinterpret_cast<char*>(tmp), static_cast<size_t>(n));
}

TEST(NormalizeTest, FullWidthDigitsAndLettersBecomeAscii) {
  EXPECT_EQ(Norm("０９０－１２３４－５６７８"), "090-1234-5678");
  EXPECT_EQ(Norm("ＭＡ－２０２５－００４５１２"), "MA-2025-004512");
  EXPECT_EQ(Norm("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ"), "taro@example.com");
  EXPECT_EQ(Norm("〒１００－０００１"), "〒100-0001");
  EXPECT_EQ(Norm("＋８１　９０"), "+81 90");
}

TEST(NormalizeTest, ChoonpuStaysButHalfWidthKanaIsComposed) {
  EXPECT_EQ(Norm("ワンピース"), "ワンピース");
  EXPECT_EQ(Norm("ｽｰﾊﾟｰ"), "スーパー");
  EXPECT_EQ(Norm("ｶﾞﾝﾀﾞﾑ"), "ガンダム");
  EXPECT_EQ(Norm("090ー1234"), "090ー1234");  // chōonpu is not a hyphen for NFKC
}

TEST(NormalizeTest, CombiningMarksCompose) {
  EXPECT_EQ(Norm("e\xCC\x81"), "\xC3\xA9");                       // e + U+0301 → é
  EXPECT_EQ(Norm("か\xE3\x82\x99"), "が");                        // か + U+3099 → が
  EXPECT_EQ(Norm("\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB"), "한");  // Hangul jamo → syllable
  EXPECT_EQ(Norm("㍻"), "平成");
  EXPECT_EQ(Norm("①"), "1");
  EXPECT_EQ(Norm("ﬁ"), "fi");
}

TEST(NormalizeTest, ControlAndFormatCharactersAreRemoved) {
  EXPECT_EQ(Norm("0\xE2\x80\x8B"
                 "9\xE2\x80\x8C"
                 "0"),
            "090");                               // ZWSP, ZWNJ
  EXPECT_EQ(Norm("\xEF\xBB\xBFhello"), "hello");  // BOM
  EXPECT_EQ(Norm("abc\xE2\x80\xAE"
                 "fed\xE2\x80\xAC"),
            "abcfed");  // RLO ... PDF
  EXPECT_EQ(Norm("a\xE2\x81\xA6"
                 "b\xE2\x81\xA9"),
            "ab");                                    // LRI ... PDI
  EXPECT_EQ(Norm("in\xC2\xADvisible"), "invisible");  // soft hyphen
  EXPECT_EQ(Norm(std::string("a\0b\x07"
                             "c\x1b[0m\x7f",
                             10)),
            "abc[0m");
  EXPECT_EQ(Norm("x\xC2\x80\xC2\x9Fy"), "xy");                    // C1 controls
  EXPECT_EQ(Norm("tag\xF3\xA0\x80\x81\xF3\xA0\x81\xA1"), "tag");  // Unicode tag characters
  EXPECT_EQ(Norm("\xEF\xB7\x90z"), "z");                          // noncharacter U+FDD0
}

TEST(NormalizeTest, RemovalDoesNotStopComposition) {
  EXPECT_EQ(Norm("e\xE2\x80\x8B\xCC\x81"), "\xC3\xA9");  // e ZWSP U+0301
  EXPECT_EQ(Norm("か\xE2\x80\x8D\xE3\x82\x99"), "が");
}

TEST(NormalizeTest, WhitespaceIsFoldedAndTrimmed) {
  EXPECT_EQ(Norm("  hello \t\n world  "), "hello world");
  EXPECT_EQ(Norm("こんにちは　　世界"), "こんにちは 世界");  // ideographic space
  EXPECT_EQ(Norm("a\xC2\xA0\xE2\x80\x83"
                 "b\xE2\x80\xA8"
                 "c"),
            "a b c");  // NBSP, EM SPACE, LS
  EXPECT_EQ(Norm(" \t\r\n "), "");
  EXPECT_EQ(Norm(""), "");
}

TEST(NormalizeTest, InvalidUtf8IsRejectedOrReplaced) {
  for (std::string bad : {std::string("abc\xff"), std::string("\xc0\xaf"),  // overlong '/'
                          std::string("\xed\xa0\x80"),                      // surrogate
                          std::string("\xf4\x90\x80\x80"),                  // > U+10FFFF
                          std::string("\xe3\x81"), std::string("\x80")}) {
    auto r = Normalize(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  }
  NormalizeOptions lossy;
  lossy.invalid_utf8 = InvalidUtf8::kReplace;
  auto r = Normalize(
      "a\xff"
      "b",
      lossy);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->text,
            "a\xEF\xBF\xBD"
            "b");
}

TEST(NormalizeTest, LengthCapRejectsOrTruncates) {
  NormalizeOptions opts;
  opts.max_chars = 5;
  EXPECT_EQ(Normalize("あいうえお", opts)->text, "あいうえお");
  auto over = Normalize("あいうえおか", opts);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), absl::StatusCode::kOutOfRange);
  opts.on_oversize = Oversize::kTruncate;
  auto cut = Normalize("あいうえおかきく", opts);
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ(cut->text, "あいうえお");
  EXPECT_TRUE(cut->truncated);
}

TEST(NormalizeTest, OffsetsPointBackIntoTheInput) {
  NormalizeOptions opts;
  opts.record_offsets = true;
  std::string in = "  電話は０９０－１２３４です、mail: a\xE2\x80\x8B@b.jp  ";
  auto r = Normalize(in, opts);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->text, "電話は090-1234です、mail: a@b.jp");
  size_t p = r->text.find("090-1234");
  auto [b, e] = r->offsets.MapRange(p, p + 8);
  EXPECT_EQ(in.substr(b, e - b), "０９０－１２３４");
  size_t q = r->text.find("a@b.jp");
  auto [qb, qe] = r->offsets.MapRange(q, q + 6);
  EXPECT_EQ(in.substr(qb, qe - qb), "a\xE2\x80\x8B@b.jp");
  auto [wb, we] = r->offsets.MapRange(0, r->text.size());
  EXPECT_EQ(wb, 2u);
  EXPECT_EQ(we, in.size() - 2);
  // Inside an exact run the mapping is byte-precise.
  size_t m = r->text.find("mail");
  auto [mb, me] = r->offsets.MapRange(m + 1, m + 3);
  EXPECT_EQ(in.substr(mb, me - mb), "ai");
}

TEST(NormalizeTest, OffsetMapCoversTheOutputWithoutGaps) {
  NormalizeOptions opts;
  opts.record_offsets = true;
  opts.invalid_utf8 = InvalidUtf8::kReplace;
  std::mt19937 rng(7);
  const std::vector<std::string> parts = {"a",         " ",    "　",   "０", "ｶﾞ", "\xE2\x80\x8B",
                                          "e\xCC\x81", "漢字", "\xff", "\n", "①",  "㍻",
                                          "ー",        "x"};
  for (int iter = 0; iter < 2000; ++iter) {
    std::string in;
    int k = static_cast<int>(rng() % 12);
    for (int t = 0; t < k; ++t) in += parts[rng() % parts.size()];
    auto r = Normalize(in, opts);
    ASSERT_TRUE(r.ok());
    size_t expect = 0, last_in = 0;
    for (const auto& s : r->offsets.segments()) {
      ASSERT_EQ(s.out_begin, expect) << in;
      ASSERT_LT(s.out_begin, s.out_end);
      ASSERT_LE(s.in_begin, s.in_end);
      ASSERT_LE(s.in_end, in.size());
      ASSERT_GE(s.in_begin, last_in);
      if (s.exact) {
        ASSERT_EQ(r->text.substr(s.out_begin, s.out_end - s.out_begin),
                  in.substr(s.in_begin, s.in_end - s.in_begin));
      }
      expect = s.out_end;
      last_in = s.in_end;
    }
    ASSERT_EQ(expect, r->text.size()) << in;
  }
}

// --- Agreement with utf8proc's whole-string NFKC ---------------------------------------------

bool RemovedRef(utf8proc_int32_t cp) {
  if (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r' && cp != 0x0B && cp != 0x0C) return true;
  if (cp == 0x7F) return true;
  if ((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE) return true;
  auto c = utf8proc_category(cp);
  return cp != 0x85 && (c == UTF8PROC_CATEGORY_CC || c == UTF8PROC_CATEGORY_CF);
}

bool SpaceRef(utf8proc_int32_t cp) {
  if (cp == ' ' || (cp >= '\t' && cp <= '\r') || cp == 0x85) return true;
  auto c = utf8proc_category(cp);
  return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

// Reference: drop removed characters, NFKC the whole string, drop/fold what comes out.
std::string Reference(const std::vector<char32_t>& cps) {
  std::string filtered;
  for (char32_t c : cps) {
    if (!RemovedRef(static_cast<utf8proc_int32_t>(c))) filtered += Utf8(c);
  }
  utf8proc_uint8_t* nfkc =
      utf8proc_NFKC(reinterpret_cast<const utf8proc_uint8_t*>(filtered.c_str()));
  std::string s(reinterpret_cast<char*>(nfkc));
  std::free(nfkc);
  std::string out;
  bool pending = false;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(s.size());
  while (left > 0) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    p += n;
    left -= n;
    if (RemovedRef(cp)) continue;
    if (SpaceRef(cp)) {
      pending = !out.empty();
      continue;
    }
    if (pending) out += ' ';
    pending = false;
    out += Utf8(static_cast<char32_t>(cp));
  }
  return out;
}

TEST(NormalizeTest, EveryCodePointAgreesWithUtf8proc) {
  int mismatches = 0;
  for (char32_t cp = 1; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    std::string in = Utf8(cp);
    auto r = Normalize(in);
    ASSERT_TRUE(r.ok());
    std::string want = Reference({cp});
    if (r->text != want && ++mismatches < 10) {
      ADD_FAILURE() << "U+" << std::hex << static_cast<uint32_t>(cp) << ": got " << r->text
                    << " want " << want;
    }
  }
  EXPECT_EQ(mismatches, 0);
}

// " U+FF21 U+0301 ..." (the failure message; built only when an assertion fails).
std::string CodePoints(const std::vector<char32_t>& cps) {
  std::string out;
  for (char32_t c : cps) out += absl::StrFormat(" U+%04X", static_cast<uint32_t>(c));
  return out;
}

TEST(NormalizeTest, RandomSequencesAgreeWithUtf8proc) {
  // Starters, combining marks, voiced-sound marks, jamo, half-width kana, removable characters.
  const std::vector<char32_t> alphabet = {
      'a',    'e',    'o',    'A',    '1',    '-',    ' ',    0x00E9, 0x0301, 0x0316,
      0x0323, 0x0302, 0x0308, 0x031B, 0x304B, 0x30AB, 0x3099, 0x309A, 0x309B, 0xFF76,
      0xFF9E, 0xFF9F, 0xFF70, 0x30FC, 0x1100, 0x1161, 0x11A8, 0xAC00, 0xAC01, 0x200B,
      0x200D, 0x202E, 0xFEFF, 0xFF10, 0xFF0D, 0x3000, 0x00A0, 0x2460, 0x337B, 0xFB01,
      0x1E0A, 0x0307, 0x0CC6, 0x0CD5, 0x0DD9, 0x0DCF, 0x0B47, 0x0B3E, 0x00C5, 0x212B,
      0x3131, 0x4E00, 0x3002, 0x0041, 0x030A, 0x0345, 0x0399, 0x1FBE, 0xFF21, 0xFF41,
      0xFF5E, 0xFF5F, 0x0001, 0xFF01};
  std::mt19937 rng(42);
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<char32_t> cps;
    int k = 1 + static_cast<int>(rng() % 16);
    for (int t = 0; t < k; ++t) cps.push_back(alphabet[rng() % alphabet.size()]);
    std::string in;
    for (char32_t c : cps) in += Utf8(c);
    auto r = Normalize(in);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->text, Reference(cps)) << "input: " << in << " code points:" << CodePoints(cps);
  }
}

TEST(NormalizeTest, IsIdempotent) {
  std::mt19937 rng(3);
  NormalizeOptions lossy;
  lossy.invalid_utf8 = InvalidUtf8::kReplace;
  for (int iter = 0; iter < 5000; ++iter) {
    std::string in;
    int k = static_cast<int>(rng() % 40);
    for (int t = 0; t < k; ++t) in.push_back(static_cast<char>(rng() % 256));
    auto once = Normalize(in, lossy);
    ASSERT_TRUE(once.ok());
    ASSERT_TRUE(IsValidUtf8(once->text));
    auto twice = Normalize(once->text);
    ASSERT_TRUE(twice.ok());
    ASSERT_EQ(twice->text, once->text);
  }
}

TEST(NormalizeTest, AdversarialInputsStayFast) {
  // 50,000 characters of worst cases: long combining runs, removable runs, expansions.
  std::vector<std::string> inputs;
  std::string marks = "a";
  for (int t = 0; t < 50000; ++t) marks += (t % 2) ? "\xCC\x81" : "\xCC\x96";
  inputs.push_back(marks);
  std::string zw = "a";
  for (int t = 0; t < 50000; ++t) zw += "\xE2\x80\x8B";
  inputs.push_back(zw);
  std::string exp;
  for (int t = 0; t < 50000; ++t) exp += "\xEF\xB7\xBA";  // U+FDFA expands to 18 code points
  inputs.push_back(exp);
  for (const auto& in : inputs) {
    auto start = std::chrono::steady_clock::now();
    auto r = Normalize(in);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    ASSERT_TRUE(r.ok());
    EXPECT_LT(ms, 2000) << "input of " << in.size() << " bytes";
    EXPECT_TRUE(IsValidUtf8(r->text));
  }
}

}  // namespace
}  // namespace mangaassist::core
