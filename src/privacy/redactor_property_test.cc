// Property tests: for random byte strings and random mixtures of PII, traps and Japanese text,
// Sanitize never crashes, its output is valid UTF-8, spans are sorted, disjoint and inside the
// input, and redaction is a fixed point (redacting the output again changes nothing).
#include <chrono>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/normalize.h"
#include "core/utf8.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "privacy/sanitize.h"

namespace mangaassist::privacy {
namespace {

void CheckProperties(const std::string& in, core::InvalidUtf8 mode) {
  SanitizeOptions opts;
  opts.original_offsets = true;
  opts.normalize.invalid_utf8 = mode;
  auto r = Sanitize(in, opts, Redactor::Default());
  if (!r.ok()) {
    ASSERT_EQ(mode, core::InvalidUtf8::kReject);
    ASSERT_FALSE(core::IsValidUtf8(in));
    return;
  }
  ASSERT_TRUE(core::IsValidUtf8(r->text)) << in;
  size_t last = 0;
  for (const PiiSpan& s : r->spans) {
    ASSERT_LE(last, s.start) << in;
    ASSERT_LT(s.start, s.end) << in;
    ASSERT_LE(s.end, in.size()) << in;
    last = s.end;
  }
  // Redaction is idempotent, and so is the whole boundary transformation.
  Redaction again = Redactor::Default().Redact(r->text);
  ASSERT_EQ(again.text, r->text) << "input: " << in;
  ASSERT_TRUE(again.spans.empty()) << in;
  auto twice = Sanitize(r->text, SanitizeOptions{}, Redactor::Default());
  ASSERT_TRUE(twice.ok());
  ASSERT_EQ(twice->text, r->text) << "input: " << in;
}

TEST(RedactorPropertyTest, RandomBytes) {
  std::mt19937 rng(20250301);
  for (int iter = 0; iter < 20000; ++iter) {
    std::string in;
    size_t n = rng() % 64;
    for (size_t i = 0; i < n; ++i) in.push_back(static_cast<char>(rng() % 256));
    CheckProperties(in, core::InvalidUtf8::kReplace);
    CheckProperties(in, core::InvalidUtf8::kReject);
    if (HasFatalFailure()) return;
  }
}

TEST(RedactorPropertyTest, RandomDigitsAndSeparators) {
  // Dense digit soup is where candidates overlap and boundaries interact.
  const std::string alphabet = "0123456789 -.:+()@〒ー／ａ";
  std::vector<std::string> symbols;
  for (size_t i = 0; i < alphabet.size();) {
    size_t len = (static_cast<unsigned char>(alphabet[i]) < 0x80) ? 1 : 3;
    symbols.push_back(alphabet.substr(i, len));
    i += len;
  }
  std::mt19937 rng(99);
  for (int iter = 0; iter < 20000; ++iter) {
    std::string in;
    size_t n = rng() % 48;
    for (size_t i = 0; i < n; ++i) {
      in += (rng() % 3) ? std::string(1, static_cast<char>('0' + rng() % 10))
                        : symbols[rng() % symbols.size()];
    }
    CheckProperties(in, core::InvalidUtf8::kReject);
    if (HasFatalFailure()) return;
  }
}

TEST(RedactorPropertyTest, RandomMixturesOfPiiAndTraps) {
  const std::vector<std::string> parts = {"090-1234-5678",
                                          "０９０－１２３４－５６７８",
                                          "+81 3-1234-5678",
                                          "(555) 123-4567",
                                          "4111 1111 1111 1111",
                                          "4242424242424242",
                                          "9784088820118",
                                          "4901234567894",
                                          "778188049177",
                                          "7501-4217-7438",
                                          "416167076540",
                                          "〒100-0001",
                                          "100-0001",
                                          "192.168.0.1",
                                          "2001:db8::1",
                                          "fe80::1",
                                          "a@example.com",
                                          "taro.yamada@example.co.jp",
                                          "東京都千代田区千代田1-1",
                                          "港区六本木6丁目10-1",
                                          "123 Main St",
                                          "742 Evergreen Terrace",
                                          "MA-2025-004512",
                                          "¥1,320",
                                          "$9.99",
                                          "2025-03-15",
                                          "10:30",
                                          "v1.2.3.4",
                                          "vol 105",
                                          "tracking",
                                          "追跡番号",
                                          "電話",
                                          "card",
                                          "カード",
                                          "マイナンバー",
                                          "郵便番号",
                                          "order",
                                          "ISBN",
                                          "version",
                                          "tel",
                                          " ",
                                          " ",
                                          "、",
                                          "です",
                                          "-",
                                          ".",
                                          ":",
                                          "@",
                                          "1",
                                          "23",
                                          "456",
                                          "\xE2\x80\x8B",
                                          "\xE2\x80\xAE",
                                          "[PHONE]",
                                          "[EMAIL]",
                                          "ｶﾞ",
                                          "ー",
                                          "x",
                                          "の",
                                          "\n"};
  std::mt19937 rng(7);
  for (int iter = 0; iter < 20000; ++iter) {
    std::string in;
    size_t n = 1 + rng() % 8;
    for (size_t i = 0; i < n; ++i) in += parts[rng() % parts.size()];
    CheckProperties(in, core::InvalidUtf8::kReject);
    if (HasFatalFailure()) return;
  }
}

TEST(RedactorPropertyTest, FuzzerFindings) {
  // Each redaction used to give its neighbour a phone keyword ("[PHONE]"), a chain longer than
  // the pass limit.
  CheckProperties(
      "c*apinele.com++8121111191, pho 4111111111,::ho 4111111111,::honma@axample.com+0 1211191, "
      "pho 4onma@axample.com+0 1211191, pho 4111111515 1&5 0199",
      core::InvalidUtf8::kReject);
}

TEST(RedactorPropertyTest, AnchoredPatternsSkipNoCandidate) {
  // The digit patterns and the US address run only where a candidate may start (redactor.cc).
  // Every other position must hold nothing a validator would confirm, for any region end: if a
  // pattern, a validator or a start rule changes, this finds the position that breaks.
  const Redactor& redactor = Redactor::Default();
  const std::vector<std::string> symbols = {" ",
                                            " ",
                                            "-",
                                            ".",
                                            "(",
                                            ")",
                                            "+",
                                            "〒",
                                            "〒 ",
                                            "ー",
                                            "−",
                                            "‐",
                                            "―",
                                            ",",
                                            ":",
                                            "_",
                                            "x",
                                            "a",
                                            "#",
                                            "tel",
                                            "TEL",
                                            "fax",
                                            "Tel.",
                                            "電話 ",
                                            "card ",
                                            "visa ",
                                            "order ",
                                            "ver ",
                                            "zip ",
                                            "isbn ",
                                            "郵便",
                                            "東京都",
                                            " Main St",
                                            " Elm Ave",
                                            " 5th Avenue",
                                            ", Apt 4",
                                            "ｶﾞ",
                                            "\xE2\x84\xAA",
                                            "7501-4217-7438",
                                            "0317 9740 5429",
                                            "100-0001"};
  // Starts that only some rules allow: a phone number right after "tel"/"fax", 〒 after a
  // letter, a '(' or '+' first, a group after a separator; and neighbours that only some shapes
  // refuse: a My Number next to a digit across another separator, a postal code before ','.
  for (const char* in : {"TEL090-1234-5678",
                         "fax03-1234-5678",
                         "tel(03)1234-5678",
                         "Tel+81 3-1234-5678",
                         "tel5551234567",
                         "phone 1-800-555-0199",
                         "x〒100-0001",
                         "A〒 1000001",
                         "(555) 123-4567",
                         "+1 (415) 555-0132",
                         "card 4111-1111-1111-1111",
                         "4111 1111 1111 1111 1234",
                         "1234 5678 9012",
                         "IP 192.168.0.1",
                         "a 221B Baker Street",
                         "x 1600 Pennsylvania Ave",
                         "1,7501-4217-7438",
                         "0317 9740 5429,1",
                         "〒100-0001,2",
                         "zip 1000001,2"}) {
    ASSERT_EQ(redactor.CheckShortcuts(in), "") << "input: " << in;
  }
  std::mt19937 rng(31);
  for (int iter = 0; iter < 3000; ++iter) {
    std::string in;
    size_t n = rng() % 28;
    for (size_t i = 0; i < n; ++i) {
      in += (rng() % 5 < 3) ? std::string(1, static_cast<char>('0' + rng() % 10))
                            : symbols[rng() % symbols.size()];
    }
    ASSERT_EQ(redactor.CheckShortcuts(in), "") << "input: " << in;
  }
  std::ifstream eval(std::string(MANGAASSIST_SOURCE_DIR) + "/tests/data/pii_eval.jsonl");
  ASSERT_TRUE(eval);
  std::string line;
  while (std::getline(eval, line)) {
    if (line.empty()) continue;
    auto text = core::Normalize(nlohmann::json::parse(line).at("text").get<std::string>());
    ASSERT_TRUE(text.ok());
    ASSERT_EQ(redactor.CheckShortcuts(text->text), "") << "input: " << text->text;
  }
}

TEST(RedactorPropertyTest, KeywordScannerAgreesWithTheKeywordRegex) {
  // Keywords in any case, glued to letters, digits or brackets, cut short, in Japanese, and
  // with the characters RE2's case folding adds (KELVIN SIGN for k, LONG S for s).
  const Redactor& redactor = Redactor::Default();
  const std::vector<std::string> parts = {"tel",
                                          "TEL",
                                          "Tel",
                                          "telephone",
                                          "phone",
                                          "call",
                                          "card",
                                          "CARD",
                                          "my number",
                                          "my",
                                          "number",
                                          "zip",
                                          "zip code",
                                          "code",
                                          "order",
                                          "track",
                                          "tracking",
                                          "trac",
                                          "\xE2\x84\xAA",
                                          "sms",
                                          "\xC5\xBFms",
                                          "sku",
                                          "ups",
                                          "usps",
                                          "ver",
                                          "version",
                                          "isbn",
                                          "電話",
                                          "カード",
                                          "マイナンバーカード",
                                          "マイナンバー",
                                          "〒",
                                          "追跡",
                                          "注文",
                                          " ",
                                          " ",
                                          "x",
                                          "_",
                                          "1",
                                          "[",
                                          "]",
                                          "-",
                                          ".",
                                          "s",
                                          "k",
                                          "ing",
                                          "er",
                                          "\xE3\x81",
                                          "ｶ"};
  std::mt19937 rng(41);
  for (int iter = 0; iter < 1500; ++iter) {
    std::string in;
    size_t n = rng() % 10;
    for (size_t i = 0; i < n; ++i) in += parts[rng() % parts.size()];
    ASSERT_EQ(redactor.CheckShortcuts(in), "") << "input: " << in;
  }
}

TEST(RedactorPropertyTest, LongInputsAreLinear) {
  // A 50,000-character message of the densest candidates finishes well inside the time budget.
  std::string dense;
  while (dense.size() < 200000) dense += "0901234567 8.8.8.8 4111 1111 〒1000001 a@b.co ";
  std::string digits(100000, '7');
  for (const std::string& in : {dense, digits}) {
    auto start = std::chrono::steady_clock::now();
    auto r = Sanitize(in, SanitizeOptions{}, Redactor::Default());
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    ASSERT_TRUE(r.ok());
    EXPECT_LT(ms, 5000);
  }
}

}  // namespace
}  // namespace mangaassist::privacy
