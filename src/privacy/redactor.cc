// How the redactor decides (the input is normalized: ASCII digits, single spaces):
//
// 1. Hand-written byte scanners find candidate regions in one pass: digit clusters with at
//    least 7 digits (or a dotted quad), the surroundings of each '@', runs of hex digits with two
//    or more ':', a house number followed within six words by a street suffix, and 市区町村郡
//    followed by block numbers. A message without such a region costs that one pass and nothing
//    else. In each region the candidate patterns run as RE2 (linear time). The e-mail, IPv6 and
//    Japanese address patterns search their region; when a bounded pattern's candidate is
//    refused, scanning resumes one character later, so the cost stays O(region · longest
//    candidate). The seven digit patterns and the US address only ever confirm a candidate that
//    stands alone on its left (rule 2), so they run anchored, and only where a candidate may
//    start with enough digits after it, in a shape the pattern can match (PatternsToTry): the same
//    candidates as a search, for a few RE2 calls per message; a cluster with no such position
//    (`MA-2025-004512`) costs none. RedactorPropertyTest.AnchoredPatternsSkipNoCandidate checks
//    the positions skipped.
// 2. A candidate must stand alone: no letter or digit touches it, and it is not glued by '-' or
//    '.' to a longer token (so nothing inside `MA-2025-004512` or `v1.2.3.4` is ever a candidate).
// 3. Check digits: cards must pass Luhn; a 13-digit number that is a valid EAN-13 (JAN, ISBN-13)
//    is a product code unless the context says card; cards start with 2–6 unless the context says
//    card; My Numbers must pass their mod-11 check digit.
// 4. Context: the nearest keyword (within 24 characters before or 12 after) of a class —
//    phone, card, my number, postal, tracking, order, product code, version. A tracking, order
//    or product keyword turns a 12-digit My Number candidate or a card candidate into a trap;
//    an unformatted 10-digit number is a phone number only after a phone keyword; a bare
//    `123-4567` is a postal code only after 〒 or a postal keyword, or before a prefecture; a
//    dotted quad after "version"/"ver"/"firmware" is a version.
// 5. Overlapping candidates: the higher priority wins (email > IPv6 > address > card > My Number
//    > phone > postal code > IPv4), then the longer one.
// 6. Redaction is repeated on its own output until nothing more is found (a second pass only
//    finds something when a redaction changed a neighbour's boundary or context), so the result
//    is a fixed point. Placeholders contain no digits, '@' or ':', never match, and are not
//    context keywords.
#include "privacy/redactor.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/normalize.h"
#include "core/strings.h"
#include "privacy/check_digits.h"
#include "re2/re2.h"

namespace mangaassist::privacy {

std::string_view PiiTypeName(PiiType type) {
  switch (type) {
    case PiiType::kEmail:
      return "email";
    case PiiType::kPhone:
      return "phone";
    case PiiType::kCreditCard:
      return "credit_card";
    case PiiType::kMyNumber:
      return "jp_my_number";
    case PiiType::kPostalCode:
      return "jp_postal_code";
    case PiiType::kIpAddress:
      return "ip_address";
    case PiiType::kStreetAddress:
      return "street_address";
  }
  return "unknown";
}

bool ParsePiiType(std::string_view name, PiiType* out) {
  for (size_t i = 0; i < kPiiTypeCount; ++i) {
    if (PiiTypeName(static_cast<PiiType>(i)) == name) {
      *out = static_cast<PiiType>(i);
      return true;
    }
  }
  return false;
}

std::string_view PiiPlaceholder(PiiType type) {
  switch (type) {
    case PiiType::kEmail:
      return "[EMAIL]";
    case PiiType::kPhone:
      return "[PHONE]";
    case PiiType::kCreditCard:
      return "[CREDIT_CARD]";
    case PiiType::kMyNumber:
      return "[MY_NUMBER]";
    case PiiType::kPostalCode:
      return "[POSTAL_CODE]";
    case PiiType::kIpAddress:
      return "[IP_ADDRESS]";
    case PiiType::kStreetAddress:
      return "[ADDRESS]";
  }
  return "[PII]";
}

size_t Redaction::total() const {
  size_t n = 0;
  for (uint16_t c : counts) n += c;
  return n;
}

namespace {

// ---------------------------------------------------------------------------------------------
// Patterns

enum Pat : int {
  kPatEmail = 0,
  kPatPhoneJp,
  kPatPhoneIntl,
  kPatPhoneUs,
  kPatCard,
  kPatMyNumber,
  kPatPostal,
  kPatIpv4,
  kPatIpv6,
  kPatAddressJa,
  kPatAddressUs,
  kPatCount
};

// Separators inside phone numbers: hyphens and dashes of every kind (NFKC keeps U+2010..U+2015,
// U+2212 and the chōonpu ー that Japanese IMEs produce), dot and space.
#define MA_SEP "[\\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30FC. ]"
#define MA_DASH "[\\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30FC]"
#define MA_PREF                                                                                                                   \
  "(?:北海道|東京都|京都府|大阪府|(?:青森|岩手|宮城|秋田|山形|福島|茨城|栃木|群馬|埼玉|千葉|"   \
  "神奈川|新潟|富山|石川|福井|山梨|長野|岐阜|静岡|愛知|三重|滋賀|兵庫|奈良|和歌山|鳥取|島根|" \
  "岡山|広島|山口|徳島|香川|愛媛|高知|福岡|佐賀|長崎|熊本|大分|宮崎|鹿児島|沖縄)県)"
#define MA_NAME "[\\p{Han}\\p{Hiragana}\\p{Katakana}ー]"
#define MA_BLOCK                                                                                           \
  "(?:\\d{1,4}(?:-\\d{1,4}){1,3}"                                                                          \
  "|(?:\\d{1,4}|[一二三四五六七八九十]{1,3})丁目(?: ?\\d{1,4}(?:番地?|-)(?:\\d{1,4}号?)?)?" \
  "|\\d{1,4}番地?(?: ?\\d{1,4}号?)?"                                                                    \
  "|\\d{1,2}条(?:[東西南北]\\d{1,2}丁目)?(?:\\d{1,4}(?:-\\d{1,4})*)?)"
#define MA_WORD "[A-Za-z0-9][A-Za-z0-9'.\\-]{0,24}"
#define MA_STREET_SUFFIX                                                                     \
  "(?i:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|"  \
  "terrace|ter|parkway|pkwy|circle|cir|highway|hwy|square|sq|trail|trl|plaza|plz|alley|aly|" \
  "row|loop)"

// Where a pattern's candidates can start. A validator that refuses every candidate starting
// elsewhere lets the pattern run anchored at the allowed positions only (scan_anchored in
// FindOnce); the others are searched.
enum class Start : uint8_t {
  kAnywhere,      // searched: e-mail, IPv6, Japanese address
  kAlone,         // the validator requires StartStandsAlone(text, s, false)
  kAlonePhone,    // the validator requires StartStandsAlone(text, s, true)
  kAloneOrMark,   // kAlone, or at 〒: ValidPostal checks the digits after the mark instead
  kAfterNonWord,  // the validator refuses a start after a letter, digit or '_'
};
constexpr size_t kStartCount = 5;

struct PatternDef {
  Pat id;
  PiiType type;
  int priority;
  bool bounded;  // candidates have a bounded length: retry one character after a refusal
  Start start;
  // For anchored patterns: the bytes a match can begin with (0xE3 is the lead byte of 〒), and the
  // fewest ASCII digits in a candidate the validator confirms.
  std::string_view first;
  size_t min_digits;
  const char* regex;
};

constexpr std::string_view kDigits = "0123456789";

constexpr PatternDef kPatterns[] = {
    {kPatEmail, PiiType::kEmail, 100, false, Start::kAnywhere, "", 0,
     "[A-Za-z0-9._%+\\-]+@[A-Za-z0-9\\-]+(?:\\.[A-Za-z0-9\\-]+)+"},
    {kPatPhoneJp, PiiType::kPhone, 60, true, Start::kAlonePhone, "(0", 10,
     "\\(?0\\d{1,4}\\)?" MA_SEP "?\\d{1,4}" MA_SEP "?\\d{3,4}"
     "|0\\d{1,4} ?\\(\\d{1,4}\\) ?\\d{3,4}"},
    {kPatPhoneIntl, PiiType::kPhone, 60, true, Start::kAlonePhone, "+", 8,
     "\\+\\d{1,3}(?:" MA_SEP "?\\(?\\d{1,5}\\)?){0,4}" MA_SEP "?\\d{2,5}"},
    {kPatPhoneUs, PiiType::kPhone, 60, true, Start::kAlonePhone, "(123456789", 10,
     "(?:1" MA_SEP "?)?\\(?[2-9]\\d{2}\\)?" MA_SEP "?\\d{3}" MA_SEP "?\\d{4}"},
    {kPatCard, PiiType::kCreditCard, 80, true, Start::kAlone, kDigits, 13,
     "\\d{13,19}|\\d{4}[ \\-]\\d{3,6}(?:[ \\-]\\d{3,6}){1,3}"},
    {kPatMyNumber, PiiType::kMyNumber, 70, true, Start::kAlone, kDigits, 12,
     "\\d{12}|\\d{4}[ \\-]\\d{4}[ \\-]\\d{4}"},
    {kPatPostal, PiiType::kPostalCode, 55, true, Start::kAloneOrMark, "0123456789\xE3", 7,
     "〒 ?\\d{3}" MA_DASH "?\\d{4}|\\d{3}" MA_DASH "\\d{4}|\\d{7}"},
    {kPatIpv4, PiiType::kIpAddress, 50, true, Start::kAlone, kDigits, 4,
     "\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}"},
    {kPatIpv6, PiiType::kIpAddress, 90, true, Start::kAnywhere, "", 0,
     "[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:.]{0,40}"},
    {kPatAddressJa, PiiType::kStreetAddress, 85, true, Start::kAnywhere, "", 0,
     "(?:" MA_PREF " ?)?(?:" MA_NAME "{1,6}[市区町村郡] ?){1,3}" MA_NAME "{0,12} ?" MA_BLOCK},
    {kPatAddressUs, PiiType::kStreetAddress, 85, true, Start::kAfterNonWord, kDigits, 1,
     "\\d{1,6}[A-Za-z]?(?:-\\d{1,4})? (?:" MA_WORD " ){1,4}?" MA_STREET_SUFFIX
     "\\b\\.?(?: (?:N|S|E|W|NE|NW|SE|SW)\\b)?"
     "(?:,? (?i:apt|apartment|suite|ste|unit|room|rm|floor|fl)\\.? ?#?[A-Za-z0-9\\-]{1,8}"
     "|,? #[A-Za-z0-9\\-]{1,8})?"
     "(?:, [A-Z][A-Za-z]{1,20}(?: [A-Z][A-Za-z]{1,20}){0,2}, [A-Z]{2} \\d{5}(?:-\\d{4})?)?"},
};
static_assert(sizeof(kPatterns) / sizeof(kPatterns[0]) == kPatCount);

// Patterns that only match inside digit clusters.
constexpr Pat kDigitPatterns[] = {kPatPhoneJp,  kPatPhoneIntl, kPatPhoneUs, kPatCard,
                                  kPatMyNumber, kPatPostal,    kPatIpv4};
constexpr Pat kUsAddressPattern[] = {kPatAddressUs};

constexpr std::string_view kPrefectures[] = {
    "北海道", "東京都", "京都府", "大阪府", "青森県", "岩手県",   "宮城県", "秋田県",
    "山形県", "福島県", "茨城県", "栃木県", "群馬県", "埼玉県",   "千葉県", "神奈川県",
    "新潟県", "富山県", "石川県", "福井県", "山梨県", "長野県",   "岐阜県", "静岡県",
    "愛知県", "三重県", "滋賀県", "兵庫県", "奈良県", "和歌山県", "鳥取県", "島根県",
    "岡山県", "広島県", "山口県", "徳島県", "香川県", "愛媛県",   "高知県", "福岡県",
    "佐賀県", "長崎県", "熊本県", "大分県", "宮崎県", "鹿児島県", "沖縄県"};

// ---------------------------------------------------------------------------------------------
// Context keywords

enum class Ctx : uint8_t {
  kNone,
  kPhone,
  kCard,
  kMyNumber,
  kPostal,
  kTracking,
  kOrder,
  kProduct,
  kVersion
};

struct KeywordDef {
  const char* word;  // ASCII words are matched case-insensitively on word boundaries
  Ctx ctx;
};

constexpr KeywordDef kKeywords[] = {
    {"telephone", Ctx::kPhone},
    {"tel", Ctx::kPhone},
    {"phone", Ctx::kPhone},
    {"call", Ctx::kPhone},
    {"mobile", Ctx::kPhone},
    {"cell", Ctx::kPhone},
    {"fax", Ctx::kPhone},
    {"contact", Ctx::kPhone},
    {"sms", Ctx::kPhone},
    {"whatsapp", Ctx::kPhone},
    {"電話", Ctx::kPhone},
    {"でんわ", Ctx::kPhone},
    {"デンワ", Ctx::kPhone},
    {"携帯", Ctx::kPhone},
    {"ケータイ", Ctx::kPhone},
    {"連絡先", Ctx::kPhone},
    {"ファックス", Ctx::kPhone},
    {"ファクス", Ctx::kPhone},
    {"card", Ctx::kCard},
    {"visa", Ctx::kCard},
    {"mastercard", Ctx::kCard},
    {"amex", Ctx::kCard},
    {"american express", Ctx::kCard},
    {"jcb", Ctx::kCard},
    {"diners", Ctx::kCard},
    {"discover", Ctx::kCard},
    {"credit", Ctx::kCard},
    {"debit", Ctx::kCard},
    {"payment", Ctx::kCard},
    {"pay", Ctx::kCard},
    {"paid", Ctx::kCard},
    {"charge", Ctx::kCard},
    {"charged", Ctx::kCard},
    {"クレジットカード", Ctx::kCard},
    {"クレジット", Ctx::kCard},
    {"クレカ", Ctx::kCard},
    {"デビット", Ctx::kCard},
    {"カード", Ctx::kCard},
    {"支払", Ctx::kCard},
    {"決済", Ctx::kCard},
    {"my number", Ctx::kMyNumber},
    {"mynumber", Ctx::kMyNumber},
    {"individual number", Ctx::kMyNumber},
    {"individual number card", Ctx::kMyNumber},
    {"my number card", Ctx::kMyNumber},
    {"マイナンバーカード", Ctx::kMyNumber},
    {"マイナンバー", Ctx::kMyNumber},
    {"個人番号", Ctx::kMyNumber},
    {"zip", Ctx::kPostal},
    {"zip code", Ctx::kPostal},
    {"zipcode", Ctx::kPostal},
    {"postal", Ctx::kPostal},
    {"postcode", Ctx::kPostal},
    {"post code", Ctx::kPostal},
    {"郵便番号", Ctx::kPostal},
    {"〒", Ctx::kPostal},
    {"tracking", Ctx::kTracking},
    {"track", Ctx::kTracking},
    {"waybill", Ctx::kTracking},
    {"shipment", Ctx::kTracking},
    {"parcel", Ctx::kTracking},
    {"package", Ctx::kTracking},
    {"fedex", Ctx::kTracking},
    {"ups", Ctx::kTracking},
    {"usps", Ctx::kTracking},
    {"dhl", Ctx::kTracking},
    {"yamato", Ctx::kTracking},
    {"sagawa", Ctx::kTracking},
    {"追跡", Ctx::kTracking},
    {"伝票", Ctx::kTracking},
    {"お問い合わせ番号", Ctx::kTracking},
    {"問い合わせ番号", Ctx::kTracking},
    {"問合せ番号", Ctx::kTracking},
    {"荷物番号", Ctx::kTracking},
    {"配送番号", Ctx::kTracking},
    {"発送番号", Ctx::kTracking},
    {"送り状", Ctx::kTracking},
    {"ヤマト", Ctx::kTracking},
    {"佐川", Ctx::kTracking},
    {"ゆうパック", Ctx::kTracking},
    {"日本郵便", Ctx::kTracking},
    {"宅急便", Ctx::kTracking},
    {"クロネコ", Ctx::kTracking},
    {"order", Ctx::kOrder},
    {"invoice", Ctx::kOrder},
    {"receipt", Ctx::kOrder},
    {"reservation", Ctx::kOrder},
    {"member", Ctx::kOrder},
    {"membership", Ctx::kOrder},
    {"注文", Ctx::kOrder},
    {"オーダー", Ctx::kOrder},
    {"受付番号", Ctx::kOrder},
    {"予約番号", Ctx::kOrder},
    {"領収書", Ctx::kOrder},
    {"請求書", Ctx::kOrder},
    {"会員番号", Ctx::kOrder},
    {"isbn", Ctx::kProduct},
    {"jan", Ctx::kProduct},
    {"ean", Ctx::kProduct},
    {"upc", Ctx::kProduct},
    {"barcode", Ctx::kProduct},
    {"sku", Ctx::kProduct},
    {"asin", Ctx::kProduct},
    {"バーコード", Ctx::kProduct},
    {"品番", Ctx::kProduct},
    {"商品コード", Ctx::kProduct},
    {"商品番号", Ctx::kProduct},
    {"書籍コード", Ctx::kProduct},
    {"version", Ctx::kVersion},
    {"ver", Ctx::kVersion},
    {"firmware", Ctx::kVersion},
    {"build", Ctx::kVersion},
    {"バージョン", Ctx::kVersion},
};

constexpr size_t kBeforeWindow = 24;  // code points between a keyword and the candidate
constexpr size_t kAfterWindow = 12;

bool IsAsciiWord(std::string_view w) {
  for (char c : w) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// The keywords in the order of the keyword regex: the ASCII ones, then the others, longer
// alternatives first in each group ("telephone" before "tel", "マイナンバーカード" before
// "カード").
std::vector<const KeywordDef*> KeywordsInRegexOrder() {
  std::vector<const KeywordDef*> ascii, other;
  for (const auto& k : kKeywords) (IsAsciiWord(k.word) ? ascii : other).push_back(&k);
  auto longer = [](const KeywordDef* a, const KeywordDef* b) {
    return std::string_view(a->word).size() > std::string_view(b->word).size();
  };
  std::stable_sort(ascii.begin(), ascii.end(), longer);
  std::stable_sort(other.begin(), other.end(), longer);
  ascii.insert(ascii.end(), other.begin(), other.end());
  return ascii;
}

// (?i:\b(?:ascii|…)\b)|other|…
std::string BuildKeywordRegex() {
  std::string ascii, other;
  for (const KeywordDef* k : KeywordsInRegexOrder()) {
    bool is_ascii = IsAsciiWord(k->word);
    std::string& group = is_ascii ? ascii : other;
    if (!is_ascii || !group.empty()) group += '|';
    group += RE2::QuoteMeta(k->word);
  }
  return "(?i:\\b(?:" + ascii + ")\\b)" + other;
}

RE2::Options PatternOptions() {
  RE2::Options o;
  o.set_encoding(RE2::Options::EncodingUTF8);
  o.set_never_capture(true);
  o.set_log_errors(false);
  return o;
}

re2::StringPiece Piece(std::string_view s) { return re2::StringPiece(s.data(), s.size()); }

// ---------------------------------------------------------------------------------------------
// Helpers over the candidate text

constexpr bool IsWordByte(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
inline bool IsHexOrColon(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':';
}

// The ASCII digits of a candidate, without allocating. The digit patterns match at most 28
// digits; beyond kCapacity only the count grows, and every validator refuses more than 19.
class Digits {
 public:
  explicit Digits(std::string_view s) { Append(s); }
  void Append(std::string_view s) {
    for (char c : s) {
      if (!IsDigit(c)) continue;
      if (size_ < kCapacity) buf_[size_] = c;
      ++size_;
    }
  }
  size_t size() const { return size_; }
  char operator[](size_t i) const { return buf_[i]; }
  // REQUIRES: size() <= kCapacity.
  std::string_view view() const { return std::string_view(buf_, size_); }

 private:
  static constexpr size_t kCapacity = 32;
  char buf_[kCapacity];
  size_t size_ = 0;
};

size_t NextCodePoint(std::string_view text, size_t pos) {
  ++pos;
  while (pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) ++pos;
  return pos;
}

// Code points in text[a, b), counting no further than `limit` + 1.
size_t CodePointsBetween(std::string_view text, size_t a, size_t b, size_t limit) {
  size_t n = 0;
  for (size_t i = a; i < b && n <= limit; ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) ++n;
  }
  return n;
}

// "TEL090-…", "fax03-…": a phone number may touch these words.
bool AfterPhoneWord(std::string_view text, size_t s) {
  for (std::string_view w : {"tel", "fax"}) {
    if (s < w.size()) continue;
    std::string_view before = text.substr(s - w.size(), w.size());
    if (!absl::EqualsIgnoreCase(core::ToAbsl(before), core::ToAbsl(w))) continue;
    if (s == w.size() || !IsWordByte(static_cast<unsigned char>(text[s - w.size() - 1]))) {
      return true;
    }
  }
  return false;
}

// A candidate starting at text[s] stands alone on its left: no letter, digit or underscore
// touches it, and it is not attached by '-' or '.' to a longer token (order numbers, versions,
// dotted codes). A phone number may follow "tel" or "fax".
bool StartStandsAlone(std::string_view text, size_t s, bool phone) {
  if (s > 0) {
    auto p = static_cast<unsigned char>(text[s - 1]);
    if (IsWordByte(p)) {
      if (!phone || !AfterPhoneWord(text, s)) return false;
    } else if ((p == '-' || p == '.') && s >= 2 &&
               IsWordByte(static_cast<unsigned char>(text[s - 2]))) {
      return false;
    }
  }
  return true;
}

// The same on the right of a candidate ending before text[e].
bool EndStandsAlone(std::string_view text, size_t e) {
  if (e < text.size()) {
    auto c = static_cast<unsigned char>(text[e]);
    if (IsWordByte(c)) return false;
    if (e + 1 < text.size()) {
      auto d = static_cast<unsigned char>(text[e + 1]);
      if (c == '-' && IsWordByte(d)) return false;
      if (c == '.' && IsDigit(static_cast<char>(d))) return false;
    }
  }
  return true;
}

// The candidate text[s, e) stands alone on both sides.
bool StandsAlone(std::string_view text, size_t s, size_t e, bool phone) {
  return StartStandsAlone(text, s, phone) && EndStandsAlone(text, e);
}

bool StartsWithPrefecture(std::string_view text) {
  if (text.size() < 9) return false;  // the shortest is three characters
  for (std::string_view p : kPrefectures) {
    if (text[0] == p[0] && text[1] == p[1] && text[2] == p[2] && text.substr(0, p.size()) == p) {
      return true;
    }
  }
  return false;
}

constexpr char LowerAscii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

// The first eight bytes of `s` in lower case, as one number (byte i in bits 8i..8i+7).
constexpr uint64_t LowerHead(std::string_view s) {
  uint64_t v = 0;
  for (size_t i = 0; i < s.size() && i < 8; ++i) {
    v |= uint64_t{static_cast<unsigned char>(LowerAscii(s[i]))} << (8 * i);
  }
  return v;
}
consteval uint64_t Head(std::string_view s) { return LowerHead(s); }

// Street suffixes (USPS abbreviations and full words), in any case, without trailing '.' and ','.
bool IsStreetSuffix(std::string_view token) {
  while (!token.empty() && (token.back() == '.' || token.back() == ',')) token.remove_suffix(1);
  if (token.size() < 2 || token.size() > 9) return false;
  // The first letters of the suffixes below.
  constexpr uint32_t kFirst = [] {
    uint32_t mask = 0;
    for (char c : std::string_view("abcdhlprstw")) mask |= 1u << (c - 'a');
    return mask;
  }();
  char first = LowerAscii(token[0]);
  if (first < 'a' || first > 'z' || (kFirst >> (first - 'a') & 1) == 0) return false;
  uint64_t h = LowerHead(token);
  switch (token.size()) {
    case 2:
      return h == Head("st") || h == Head("rd") || h == Head("ln") || h == Head("dr") ||
             h == Head("ct") || h == Head("pl") || h == Head("sq");
    case 3:
      return h == Head("ave") || h == Head("ter") || h == Head("cir") || h == Head("hwy") ||
             h == Head("trl") || h == Head("plz") || h == Head("aly") || h == Head("way") ||
             h == Head("row");
    case 4:
      return h == Head("road") || h == Head("blvd") || h == Head("lane") || h == Head("pkwy") ||
             h == Head("loop");
    case 5:
      return h == Head("drive") || h == Head("court") || h == Head("place") || h == Head("trail") ||
             h == Head("plaza") || h == Head("alley");
    case 6:
      return h == Head("street") || h == Head("avenue") || h == Head("square") ||
             h == Head("circle");
    case 7:
      return h == Head("highway") || h == Head("terrace") || h == Head("parkway");
    case 9:
      return h == Head("boulevard") && LowerAscii(token[8]) == 'd';
    default:
      return false;
  }
}

// True when text[i, i + 3) is the UTF-8 encoding of the BMP character `c` (U+0800..U+FFFF).
inline bool Is3(std::string_view text, size_t i, char32_t c) {
  return i + 3 <= text.size() && static_cast<unsigned char>(text[i]) == (0xE0 | (c >> 12)) &&
         static_cast<unsigned char>(text[i + 1]) == (0x80 | ((c >> 6) & 0x3F)) &&
         static_cast<unsigned char>(text[i + 2]) == (0x80 | (c & 0x3F));
}

constexpr char32_t kPostalMark = 0x3012;  // 〒

// Finds the keywords the way the keyword regex (BuildKeywordRegex) does, without running it: the
// leftmost match, and at one position the first alternative in the regex's order. ASCII keywords
// match case-insensitively between word boundaries (\b, judged on the whole text); RE2's case
// folding also lets 'k' match KELVIN SIGN and 's' LONG S. CheckShortcuts compares the two.
class KeywordScanner {
 public:
  KeywordScanner() {
    static_assert(std::size(kKeywords) < 256);
    for (const KeywordDef* k : KeywordsInRegexOrder()) {
      std::string_view w = k->word;
      auto i = static_cast<uint8_t>(order_.size());
      order_.push_back({w, IsAsciiWord(w), k->ctx});
      auto add = [&](unsigned char b) { by_first_byte_[b].push_back(i); };
      if (!order_.back().ascii) {
        add(static_cast<unsigned char>(w[0]));
        continue;
      }
      add(static_cast<unsigned char>(absl::ascii_tolower(static_cast<unsigned char>(w[0]))));
      add(static_cast<unsigned char>(absl::ascii_toupper(static_cast<unsigned char>(w[0]))));
      if (w[0] == 'k') add(0xE2);  // U+212A
      if (w[0] == 's') add(0xC5);  // U+017F
    }
    // No first byte starts both kinds, so one \b test per position serves all ASCII keywords.
    for (const auto& bucket : by_first_byte_) {
      for (uint8_t i : bucket) {
        if (order_[i].ascii != order_[bucket[0]].ascii) {
          fprintf(stderr, "redactor: a first byte starts ASCII and other keywords\n");
          abort();
        }
      }
    }
  }

  struct Match {
    size_t start = 0, end = 0;
    std::string_view keyword;
    Ctx ctx = Ctx::kNone;
  };

  // The first keyword inside text[pos, hi), or false.
  bool Next(std::string_view text, size_t pos, size_t hi, Match* m) const {
    for (size_t p = pos; p < hi; ++p) {
      const std::vector<uint8_t>& bucket = by_first_byte_[static_cast<unsigned char>(text[p])];
      if (bucket.empty()) continue;
      bool ascii = order_[bucket[0]].ascii;
      if (ascii && WordAt(text, p - 1) == WordAt(text, p)) continue;  // \b
      for (uint8_t i : bucket) {
        const Entry& k = order_[i];
        size_t end = ascii ? AsciiMatchAt(text, p, hi, k.word)
                           : (text.substr(p, hi - p).starts_with(k.word) ? p + k.word.size()
                                                                         : std::string_view::npos);
        if (end == std::string_view::npos) continue;
        *m = {p, end, k.word, k.ctx};
        return true;
      }
    }
    return false;
  }

 private:
  struct Entry {
    std::string_view word;
    bool ascii;
    Ctx ctx;
  };

  static bool WordAt(std::string_view text, size_t i) {  // \w, false outside the text
    return i < text.size() && IsWordByte(static_cast<unsigned char>(text[i]));
  }

  // The end of the ASCII `word` matched at text[p] inside text[p, hi) and followed by \b, or npos.
  static size_t AsciiMatchAt(std::string_view text, size_t p, size_t hi, std::string_view word) {
    size_t q = p;
    for (char c : word) {  // lower-case letters and spaces
      if (q < hi && absl::ascii_tolower(static_cast<unsigned char>(text[q])) == c) {
        q += 1;
      } else if (c == 'k' && q + 3 <= hi && Is3(text, q, 0x212A)) {
        q += 3;
      } else if (c == 's' && q + 2 <= hi && text.substr(q, 2) == "\u017F") {
        q += 2;
      } else {
        return std::string_view::npos;
      }
    }
    if (WordAt(text, q - 1) == WordAt(text, q)) return std::string_view::npos;  // \b
    return q;
  }

  std::vector<Entry> order_;
  std::array<std::vector<uint8_t>, 256> by_first_byte_;  // indices into order_, ascending
};

}  // namespace

struct Redactor::Patterns {
  std::vector<std::unique_ptr<RE2>> regex;  // indexed by Pat
  std::unique_ptr<RE2> keywords;  // what `keyword_scanner` follows; CheckShortcuts compares them
  KeywordScanner keyword_scanner;
};

namespace {

// Finds the nearest context keyword around a candidate, searching only a small window.
class ContextFinder {
 public:
  ContextFinder(std::string_view text, const Redactor::Patterns& p) : text_(text), p_(p) {}
  // The class of the nearest keyword within kBeforeWindow code points before text[s, e) or
  // kAfterWindow after it (the closer one; before wins a tie), or kNone.
  Ctx Near(size_t s, size_t e) const;

 private:
  std::string_view text_;
  const Redactor::Patterns& p_;
};

// Moves `pos` back (or forward) over `count` code points.
size_t BackCodePoints(std::string_view text, size_t pos, size_t count) {
  while (pos > 0 && count > 0) {
    --pos;
    if ((static_cast<unsigned char>(text[pos]) & 0xC0) != 0x80) --count;
  }
  return pos;
}
size_t ForwardCodePoints(std::string_view text, size_t pos, size_t count) {
  while (pos < text.size() && count > 0) {
    pos = NextCodePoint(text, pos);
    --count;
  }
  return pos;
}

constexpr size_t kLongestKeyword = 9;  // code points ("マイナンバーカード")

Ctx ContextFinder::Near(size_t s, size_t e) const {
  size_t lo = BackCodePoints(text_, s, kBeforeWindow + kLongestKeyword);
  size_t hi = ForwardCodePoints(text_, e, kAfterWindow + kLongestKeyword);
  KeywordScanner::Match m;
  size_t pos = lo;
  size_t before_dist = SIZE_MAX, after_dist = SIZE_MAX;
  Ctx before = Ctx::kNone, after = Ctx::kNone;
  while (pos < hi && p_.keyword_scanner.Next(text_, pos, hi, &m)) {
    size_t ks = m.start, ke = m.end;
    pos = ke;
    // A placeholder ("[PHONE]") is not context: otherwise each redaction could give its
    // neighbour a phone keyword, and redacting the output again would find more.
    if (ks > 0 && text_[ks - 1] == '[' && ke < text_.size() && text_[ke] == ']') continue;
    // A case-folded form ("tracK" with KELVIN SIGN) is longer than the keyword and, as always,
    // not counted.
    if (ke - ks != m.keyword.size()) continue;
    Ctx ctx = m.ctx;
    if (ke <= s) {
      size_t d = CodePointsBetween(text_, ke, s, kBeforeWindow);
      if (d <= kBeforeWindow) {  // later keywords are closer
        before = ctx;
        before_dist = d;
      }
    } else if (ks >= e && after == Ctx::kNone) {
      size_t d = CodePointsBetween(text_, e, ks, kAfterWindow);
      if (d <= kAfterWindow) {
        after = ctx;
        after_dist = d;
      }
    }
  }
  if (before == Ctx::kNone) return after;
  if (after == Ctx::kNone) return before;
  return after_dist < before_dist ? after : before;
}

// ---------------------------------------------------------------------------------------------
// Validators: confirm (and possibly narrow) the candidate text[*s, *e).

bool ValidPhoneJp(std::string_view text, size_t* s, size_t* e, const ContextFinder& ctx) {
  std::string_view m = text.substr(*s, *e - *s);
  size_t open = m.find('('), close = m.find(')');
  if ((open == std::string_view::npos) != (close == std::string_view::npos)) return false;
  if (open != std::string_view::npos && close < open) return false;
  if (!StandsAlone(text, *s, *e, true)) return false;
  Digits d(m);
  bool mobile_prefix = d.size() >= 3 && d[2] == '0' && d[1] >= '2' && d[1] <= '9';  // 0X0
  if (d.size() == 11) {
    if (!mobile_prefix && d.view().substr(0, 4) != "0800") return false;
  } else if (d.size() == 10) {
    if (d[1] == '0' || mobile_prefix) return false;
  } else {
    return false;
  }
  if (d.size() != m.size()) return true;  // formatted: separators or parentheses
  Ctx c = ctx.Near(*s, *e);
  if (d.size() == 10) return c == Ctx::kPhone;
  return c == Ctx::kNone || c == Ctx::kPhone || c == Ctx::kPostal;
}

bool ValidPhoneIntl(std::string_view text, size_t* s, size_t* e) {
  std::string_view m = text.substr(*s, *e - *s);
  if (!StandsAlone(text, *s, *e, true)) return false;
  // The digits without a trunk prefix written "(0)".
  size_t trunk = m.find("(0)");
  Digits d(m.substr(0, trunk));
  if (trunk != std::string_view::npos) d.Append(m.substr(trunk + 3));
  if (d.size() < 8 || d.size() > 15 || d[0] == '0') return false;  // no country code starts with 0
  if (d.view().substr(0, 2) == "81") {
    std::string_view national = d.view().substr(2);
    if (!national.empty() && national[0] == '0') national.remove_prefix(1);
    return national.size() == 9 || national.size() == 10;
  }
  if (d[0] == '1') return d.size() == 11;
  return true;
}

bool ValidPhoneUs(std::string_view text, size_t* s, size_t* e, const ContextFinder& ctx) {
  std::string_view m = text.substr(*s, *e - *s);
  size_t open = std::count(m.begin(), m.end(), '('), close = std::count(m.begin(), m.end(), ')');
  if (open != close || open > 1) return false;
  if (!StandsAlone(text, *s, *e, true)) return false;
  Digits d(m);
  if (d.size() == 11 ? d[0] != '1' : d.size() != 10) return false;
  if (d.size() != m.size()) return true;  // formatted
  return ctx.Near(*s, *e) == Ctx::kPhone;
}

bool ValidCard(std::string_view text, size_t* s, size_t* e, const ContextFinder& ctx) {
  std::string_view m = text.substr(*s, *e - *s);
  // The pattern matches 13–19 digits, or three to five groups joined by ' ' or '-'.
  std::array<std::string_view, 5> groups;
  size_t count = 0;
  char separator = 0;
  bool one_separator = true;  // every non-digit is the same character
  for (size_t i = 0; i < m.size(); ++i) {
    size_t j = i;
    while (j < m.size() && IsDigit(m[j])) ++j;
    if (j > i) {
      if (count == groups.size()) return false;
      groups[count++] = m.substr(i, j - i);
    }
    if (j < m.size()) {
      if (separator == 0) separator = m[j];
      one_separator = one_separator && m[j] == separator;
    }
    i = j;
  }
  std::array<char, 19> buf;
  std::string_view d;
  size_t end = *e;
  if (count == 1) {
    d = m;
    if (d.size() < 13 || d.size() > 19 || !LuhnValid(d)) return false;
  } else {
    // Formatted: one separator character, a first group of four, then groups of 3–6 digits.
    // Trailing groups that do not belong to the card (a quantity, a second number) are dropped.
    if (!one_separator) return false;
    if (groups[0].size() != 4) return false;
    bool found = false;
    for (size_t k = count; k >= 3 && !found; --k) {
      size_t n = 0;
      for (size_t g = 0; g < k; ++g) n += groups[g].size();
      if (n < 13 || n > 19) continue;
      n = 0;
      for (size_t g = 0; g < k; ++g) {
        std::copy(groups[g].begin(), groups[g].end(), buf.begin() + static_cast<ptrdiff_t>(n));
        n += groups[g].size();
      }
      if (!LuhnValid(std::string_view(buf.data(), n))) continue;
      d = std::string_view(buf.data(), n);
      end = static_cast<size_t>(groups[k - 1].data() + groups[k - 1].size() - text.data());
      found = true;
    }
    if (!found) return false;
  }
  if (!StandsAlone(text, *s, end, false)) return false;
  Ctx c = ctx.Near(*s, end);
  if (c == Ctx::kTracking || c == Ctx::kProduct) return false;
  if (c != Ctx::kCard) {
    if (d.size() == 13 && Ean13Valid(d)) return false;  // JAN / ISBN-13
    if (d[0] < '2' || d[0] > '6') return false;         // no card network starts so
  }
  *e = end;
  return true;
}

bool ValidMyNumber(std::string_view text, size_t* s, size_t* e, const ContextFinder& ctx) {
  std::string_view m = text.substr(*s, *e - *s);
  if (m.size() == 14) {
    // Grouped 4-4-4: one separator, and no further group of the same kind on either side
    // ("4111 1111 1111 1112" is not a My Number followed by 1112).
    char sep = m[4];
    if (m[9] != sep) return false;
    if (*e + 1 < text.size() && text[*e] == sep && IsDigit(text[*e + 1])) return false;
    if (*s >= 2 && text[*s - 1] == sep && IsDigit(text[*s - 2])) return false;
  }
  if (!StandsAlone(text, *s, *e, false)) return false;
  if (Digits d(m); d.size() != 12 || !MyNumberValid(d.view())) return false;
  Ctx c = ctx.Near(*s, *e);
  return c == Ctx::kNone || c == Ctx::kMyNumber || c == Ctx::kPostal || c == Ctx::kVersion;
}

bool ValidPostal(std::string_view text, size_t* s, size_t* e, const ContextFinder& ctx) {
  std::string_view m = text.substr(*s, *e - *s);
  constexpr std::string_view kMark = "〒";
  if (m.substr(0, kMark.size()) == kMark) {
    size_t start = *s + kMark.size();
    if (start < *e && text[start] == ' ') ++start;
    if (!StandsAlone(text, start, *e, false)) return false;
    *s = start;
    return true;
  }
  if (!StandsAlone(text, *s, *e, false)) return false;
  Ctx c = ctx.Near(*s, *e);
  if (c == Ctx::kPostal) return true;
  if (c != Ctx::kNone) return false;
  std::string_view rest = text.substr(*e);
  if (!rest.empty() && rest[0] == ' ') rest.remove_prefix(1);
  return StartsWithPrefecture(rest);
}

bool ValidIpv4(std::string_view text, size_t* s, size_t* e, const ContextFinder& ctx) {
  if (!StandsAlone(text, *s, *e, false)) return false;
  if (!Ipv4Valid(text.substr(*s, *e - *s))) return false;
  Ctx c = ctx.Near(*s, *e);
  return c != Ctx::kVersion && c != Ctx::kProduct;
}

bool ValidIpv6(std::string_view text, size_t* s, size_t* e) {
  size_t end = *e;
  while (end > *s && text[end - 1] == '.') --end;
  if (end - *s >= 2 && text[end - 1] == ':' && text[end - 2] != ':') --end;
  // Not the tail of a longer colon run ("1:2:3:4:5:6:7:8:9"); a label colon ("IP:") is fine.
  if (*s > 0 && text[*s - 1] == ':' && (*s < 2 || IsHexOrColon(text[*s - 2]))) return false;
  if (!StandsAlone(text, *s, end, false)) return false;
  if (end < text.size() && text[end] == ':') return false;
  int groups = 0;
  std::string_view m = text.substr(*s, end - *s);
  if (!Ipv6Valid(m, &groups) || groups < 2) return false;
  // Two short groups ("a::b", "std::ab") are more likely code than an address.
  if (groups == 2) {
    size_t longest = 0, run = 0;
    for (char c : m) {
      run = c == ':' ? 0 : run + 1;
      longest = std::max(longest, run);
    }
    if (longest < 3) return false;
  }
  *e = end;
  return true;
}

bool ValidEmail(std::string_view text, size_t* s, size_t* e) {
  size_t start = *s;
  while (start < *e && text[start] == '.') ++start;  // "...taro@" — leading dots are not part
  std::string_view m = text.substr(start, *e - start);
  size_t at = m.find('@');
  if (at == 0 || at == std::string_view::npos || at > 64 || m.size() > 254) return false;
  std::string_view domain = m.substr(at + 1);
  size_t last_dot = domain.rfind('.');
  std::string_view tld = domain.substr(last_dot + 1);
  if (tld.size() < 2) return false;
  for (char c : tld) {
    if (!absl::ascii_isalpha(static_cast<unsigned char>(c))) return false;
  }
  size_t label_start = 0;
  while (label_start <= domain.size()) {
    size_t dot = domain.find('.', label_start);
    std::string_view label = domain.substr(
        label_start, dot == std::string_view::npos ? std::string_view::npos : dot - label_start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    if (dot == std::string_view::npos) break;
    label_start = dot + 1;
  }
  *s = start;
  return true;
}

// Whether `m` contains one of the particles は を に で へ から まで より (まで contains で), as
// bytes anywhere. Each starts with the byte 0xE3.
bool HasParticle(std::string_view m) {
  for (size_t i = 0; i + 3 <= m.size(); ++i) {
    if (static_cast<unsigned char>(m[i]) != 0xE3) continue;
    for (char32_t c : {U'は', U'を', U'に', U'で', U'へ'}) {
      if (Is3(m, i, c)) return true;
    }
    if ((Is3(m, i, U'か') && Is3(m, i + 3, U'ら')) || (Is3(m, i, U'よ') && Is3(m, i + 3, U'り'))) {
      return true;
    }
  }
  return false;
}

bool ValidAddressJa(std::string_view text, size_t* s, size_t* e) {
  std::string_view m = text.substr(*s, *e - *s);
  // Particles mean a sentence, not a town name: 「渋谷区のイベントは3-5日」.
  if (HasParticle(m)) return false;
  // Block numbers are not followed by a unit: 「3-5日」「1-3巻」「10-20時」.
  std::string_view rest = text.substr(*e);
  if (!rest.empty() && (IsDigit(rest[0]) || IsWordByte(static_cast<unsigned char>(rest[0])))) {
    return false;
  }
  if (!rest.empty() && (rest[0] == '%' || rest[0] == '~')) return false;
  for (char32_t unit :
       {U'日', U'月', U'年', U'巻', U'話', U'冊', U'個', U'回', U'時', U'分', U'秒', U'円',
        U'人', U'歳', U'点', U'枚', U'本', U'件', U'位', U'〜', U'章', U'期', U'部', U'周'}) {
    if (Is3(rest, 0, unit)) return false;
  }
  if (!StartsWithPrefecture(m)) {
    // Without a prefecture, the first municipality must be a city or a ward.
    for (size_t i = 0; i < m.size();) {
      std::string_view ch = m.substr(i, NextCodePoint(m, i) - i);
      if (ch == "市" || ch == "区") break;
      if (ch == "町" || ch == "村" || ch == "郡") return false;
      i += ch.size();
    }
  }
  return true;
}

bool ValidAddressUs(std::string_view text, size_t* s, size_t* e) {
  static constexpr std::string_view kStop[] = {
      "the",     "a",        "an",     "on",     "in",      "of",       "to",      "for",
      "my",      "your",     "our",    "his",    "her",     "their",    "this",    "that",
      "these",   "those",    "and",    "or",     "but",     "by",       "at",      "is",
      "was",     "are",      "be",     "per",    "vol",     "vol.",     "volume",  "volumes",
      "chapter", "chapters", "ch",     "ch.",    "copy",    "copies",   "book",    "books",
      "item",    "items",    "page",   "pages",  "episode", "episodes", "ep",      "season",
      "part",    "issue",    "issues", "times",  "more",    "all",      "every",   "each",
      "only",    "just",     "about",  "over",   "under",   "with",     "from",    "into",
      "out",     "up",       "down",   "yen",    "dollars", "usd",      "jpy",     "pcs",
      "units",   "days",     "weeks",  "months", "years",   "hours",    "minutes", "left",
      "right",   "get",      "buy",    "free",   "off",     "best",     "top",     "new",
      "old"};
  static constexpr std::string_view kPlainSuffixes[] = {
      "way",    "court",   "place", "square", "drive", "lane", "row",
      "circle", "terrace", "trail", "plaza",  "alley", "loop"};
  if (*s > 0 && IsWordByte(static_cast<unsigned char>(text[*s - 1]))) return false;
  std::string_view m = text.substr(*s, *e - *s);
  if (*e < text.size() && IsWordByte(static_cast<unsigned char>(text[*e]))) return false;
  // Tokens after the house number, up to the street suffix.
  std::vector<std::string_view> words;
  size_t i = m.find(' ');
  while (i != std::string_view::npos && i < m.size()) {
    size_t j = m.find(' ', i + 1);
    words.push_back(m.substr(i + 1, j == std::string_view::npos ? j : j - i - 1));
    i = j;
  }
  auto lower = [](std::string_view w) {
    std::string l(w);
    while (!l.empty() && (l.back() == '.' || l.back() == ',')) l.pop_back();
    absl::AsciiStrToLower(&l);
    return l;
  };
  size_t suffix_at = 0;
  for (size_t k = 1; k < words.size(); ++k) {
    if (IsStreetSuffix(words[k])) {
      suffix_at = k;
      break;
    }
  }
  if (suffix_at == 0) return false;
  std::string suffix = lower(words[suffix_at]);
  bool plain = std::find(std::begin(kPlainSuffixes), std::end(kPlainSuffixes), suffix) !=
               std::end(kPlainSuffixes);
  for (size_t k = 0; k < suffix_at; ++k) {
    std::string l = lower(words[k]);
    if (std::find(std::begin(kStop), std::end(kStop), l) != std::end(kStop)) return false;
    if (!l.empty() && std::all_of(l.begin(), l.end(), [](char c) { return IsDigit(c); })) {
      return false;
    }
    if (plain && !words[k].empty() &&
        absl::ascii_islower(static_cast<unsigned char>(words[k][0]))) {
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Candidate regions. Hand-written byte scanners find the few places where a pattern can match;
// RE2 then runs only there, so a message without PII costs one pass over its bytes.

struct Window {
  size_t begin, end;
};

// A 市区町村郡 at `at`, and the first ASCII digit or 丁 after it (or the end of the text).
struct Municipality {
  size_t at, next_number;
};

struct Windows {
  std::vector<Window> digits, email, ipv6, address_us, address_ja;
  std::vector<Municipality> municipalities;  // every one in the text, in order
  bool Empty() const {
    return digits.empty() && email.empty() && ipv6.empty() && address_us.empty() &&
           address_ja.empty();
  }
  void Clear() {
    for (auto* v : {&digits, &email, &ipv6, &address_us, &address_ja}) v->clear();
    municipalities.clear();
  }
};

// Appends [begin, end), merging it into the previous window when they overlap. Windows arrive
// in increasing `begin` order.
void AddWindow(std::vector<Window>* w, size_t begin, size_t end) {
  if (!w->empty() && begin <= w->back().end) {
    w->back().end = std::max(w->back().end, end);
    return;
  }
  w->push_back({begin, end});
}

// Length of the separator character at text[i] that may join digit groups, or 0.
size_t JoinerLength(std::string_view text, size_t i) {
  char c = text[i];
  if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')') return 1;
  if (static_cast<unsigned char>(c) == 0xE2 || static_cast<unsigned char>(c) == 0xE3) {
    for (char32_t dash : {0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2015, 0x2212, 0x30FC}) {
      if (Is3(text, i, dash)) return 3;
    }
  }
  return 0;
}

bool IsLocalPartByte(char c) {
  return IsWordByte(static_cast<unsigned char>(c)) || c == '.' || c == '%' || c == '+' || c == '-';
}
bool IsDomainByte(char c) {
  return (IsWordByte(static_cast<unsigned char>(c)) && c != '_') || c == '.' || c == '-';
}

// The three UTF-8 bytes of the BMP character `c` (U+0800..U+FFFF) as one number.
constexpr uint32_t Packed3(char32_t c) {
  return (0xE0 | (c >> 12)) << 16 | (0x80 | ((c >> 6) & 0x3F)) << 8 | (0x80 | (c & 0x3F));
}

constexpr char32_t kMunicipalities[] = {0x5E02, 0x533A, 0x753A, 0x6751, 0x90E1};  // 市区町村郡

// Whether text[i, i + 3) is one of 市 区 町 村 郡.
inline bool IsMunicipality(std::string_view text, size_t i) {
  if (i + 3 > text.size()) return false;
  uint32_t v = static_cast<uint32_t>(static_cast<unsigned char>(text[i])) << 16 |
               static_cast<uint32_t>(static_cast<unsigned char>(text[i + 1])) << 8 |
               static_cast<unsigned char>(text[i + 2]);
  for (char32_t c : kMunicipalities) {
    if (v == Packed3(c)) return true;
  }
  return false;
}

// Bytes at which a candidate region can start: digits, '@', ':' and the lead bytes of
// 市 区 町 村 郡 (only where one of those characters follows).
constexpr std::array<bool, 256> MakeTriggerTable() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[static_cast<size_t>(c)] = true;
  t['@'] = t[':'] = true;
  for (char32_t c : kMunicipalities) t[Packed3(c) >> 16] = true;
  return t;
}
constexpr std::array<bool, 256> kTrigger = MakeTriggerTable();

constexpr bool MunicipalityLeadsInE5ToE9() {
  for (char32_t c : kMunicipalities) {
    if (Packed3(c) >> 16 < 0xE5 || Packed3(c) >> 16 > 0xE9) return false;
  }
  return true;
}
static_assert(MunicipalityLeadsInE5ToE9());  // NextTrigger tests that range

inline bool IsTrigger(std::string_view text, size_t i) {
  auto c = static_cast<unsigned char>(text[i]);
  return kTrigger[c] && (c < 0x80 || IsMunicipality(text, i));
}

// A digit cluster starting at the digit text[i]: digits joined by runs of at most two
// separators, with a leading '(', '+' or '〒'. Returns the end of the scan (past the last digit
// or joiner examined); adds a window when the cluster has at least 7 digits (or is a dotted
// quad), the least any phone number, card, My Number, postal code or IPv4 address needs.
size_t ScanDigitCluster(std::string_view text, size_t i, Windows* w) {
  const size_t n = text.size();
  size_t b = i;
  if (b >= 1 && text[b - 1] == '(') --b;
  if (b >= 1 && text[b - 1] == '+') --b;
  if (b >= 4 && text[b - 1] == ' ' && Is3(text, b - 4, kPostalMark)) b -= 4;
  if (b >= 3 && Is3(text, b - 3, kPostalMark)) b -= 3;
  int digits = 0, dots = 0;
  size_t j = i, end = i;
  while (j < n) {
    if (IsDigit(text[j])) {
      ++digits;
      end = ++j;
      continue;
    }
    size_t k = j;
    int joiners = 0, run_dots = 0;
    while (k < n && joiners < 3) {
      size_t len = JoinerLength(text, k);
      if (len == 0) break;
      run_dots += text[k] == '.';
      k += len;
      ++joiners;
    }
    if (joiners == 0 || joiners > 2 || k >= n || !IsDigit(text[k])) break;
    dots += run_dots;
    j = k;
  }
  if (end < n && text[end] == ')') ++end;
  if (digits >= 7 || (dots >= 3 && digits >= 4)) AddWindow(&w->digits, b, end);
  return j;
}

// Bytes of the words ScanHouseNumber reads: letters, digits, '_', '\'', '.', '-', ','.
constexpr std::array<bool, 256> kAddressWordByte = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = IsWordByte(static_cast<unsigned char>(c));
  for (char c : std::string_view("'.-,")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

// The words ScanHouseNumber has read: consecutive house numbers ("4111 1111 1111") read the same
// words after them again. Direct-mapped by the word's start.
class AddressWords {
 public:
  // The end of the word at text[t] (up to 26 bytes of kAddressWordByte), and whether it is a
  // street suffix.
  size_t End(std::string_view text, size_t t, bool* suffix) {
    Entry& e = entries_[t % entries_.size()];
    if (e.start != t) {
      size_t te = t;
      while (te < text.size() && te - t <= 25 &&
             kAddressWordByte[static_cast<unsigned char>(text[te])]) {
        ++te;
      }
      e = {t, te, te > t && IsStreetSuffix(text.substr(t, te - t))};
    }
    *suffix = e.suffix;
    return e.end;
  }

 private:
  struct Entry {
    size_t start = SIZE_MAX, end = 0;
    bool suffix = false;
  };
  std::array<Entry, 16> entries_;
};

// A US house number at text[i] (a word start): up to six following words, one of them (not the
// first) a street suffix.
void ScanHouseNumber(std::string_view text, size_t i, AddressWords* words, Windows* w) {
  const size_t n = text.size();
  size_t j = i;
  while (j < n && IsDigit(text[j])) ++j;
  if (j - i > 6) return;
  size_t number_end = j;
  while (j < n && text[j] != ' ' && j - number_end < 6) ++j;  // "221B", "12-3"
  size_t pos = j;
  for (int word = 0; word < 6 && pos < n && text[pos] == ' '; ++word) {
    size_t t = pos + 1;
    bool suffix = false;
    size_t te = words->End(text, t, &suffix);
    if (te == t) return;
    if (word >= 1 && suffix) {
      AddWindow(&w->address_us, i, std::min(n, te + 120));
      return;
    }
    pos = te;
  }
}

// The first trigger byte at or after `i`, or `n`. A tight loop of its own so that the index stays
// in a register.
// SWAR (Mycroft): the high bit of each byte of `w` that equals `b` (and perhaps of bytes above
// one that does).
constexpr uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
inline uint64_t BytesEqual(uint64_t w, unsigned char b) {
  uint64_t x = w ^ (kOnes * b);
  return (x - kOnes) & ~x & kHigh;
}

static_assert(std::endian::native == std::endian::little);  // byte k of a word is text[i + k]

// The first position at or after `i` where IsTrigger holds, or the size of the text.
inline size_t NextTrigger(std::string_view text, size_t i) {
  const size_t n = text.size();
  const auto* data = reinterpret_cast<const unsigned char*>(text.data());
  // Eight bytes at a time: skip words with no byte in 0x30..0x3A (digits, ':'), no '@' and no
  // byte in 0xE5..0xE9 followed by the second byte of one of 市区町村郡 (Mycroft's "has byte
  // between" test on the low seven bits, for ASCII bytes and for the others, and his "has zero
  // byte" test). Japanese text has a lead byte in 0xE5..0xE9 every few characters.
  while (i + 9 <= n) {
    uint64_t w, next;
    std::memcpy(&w, data + i, 8);
    std::memcpy(&next, data + i + 1, 8);  // byte k of `next` follows byte k of `w`
    uint64_t low7 = w & ~kHigh;
    uint64_t ascii_in_range =
        ((kOnes * (127 + 0x3B)) - low7) & ~w & (low7 + kOnes * (127 - 0x2F)) & kHigh;
    uint64_t lead_in_range =
        ((kOnes * (127 + 0x6A)) - low7) & w & (low7 + kOnes * (127 - 0x64)) & kHigh;
    uint64_t hits = ascii_in_range | BytesEqual(w, '@');
    if (lead_in_range != 0) {
      uint64_t second = 0;
      for (char32_t c : kMunicipalities) second |= BytesEqual(next, (Packed3(c) >> 8) & 0xFF);
      hits |= lead_in_range & second;
    }
    // Bytes flagged without being triggers (the "has zero byte" test may flag a byte above a
    // match) are checked and passed over.
    for (; hits != 0; hits &= hits - 1) {
      size_t k = i + static_cast<size_t>(std::countr_zero(hits)) / 8;
      if (IsTrigger(text, k)) return k;
    }
    i += 8;
  }
  while (i < n && !IsTrigger(text, i)) ++i;
  return i;
}

void FindWindows(std::string_view text, Windows* w) {
  const size_t n = text.size();
  const auto* data = reinterpret_cast<const unsigned char*>(text.data());
  size_t cluster_end = 0;  // digits before this were scanned as part of a cluster
  size_t email_floor = 0;  // left edge for the next e-mail window
  size_t colon_floor = 0;  // IPv6 runs before this were scanned
  size_t next_number = 0;  // next ASCII digit or 丁 after a 市区町村郡 trigger
  AddressWords words;
  for (size_t i = NextTrigger(text, 0); i < n; i = NextTrigger(text, i + 1)) {
    unsigned char c = data[i];
    if (IsDigit(static_cast<char>(c))) {
      bool word_start = i == 0 || !IsWordByte(static_cast<unsigned char>(text[i - 1]));
      if (word_start) ScanHouseNumber(text, i, &words, w);
      if (i >= cluster_end) cluster_end = ScanDigitCluster(text, i, w);
      // The other digits of this run start no word and lie in the cluster just scanned.
      while (i + 1 < n && IsDigit(text[i + 1])) ++i;
      continue;
    }
    if (c == '@') {
      size_t l = i;
      while (l > email_floor && IsLocalPartByte(text[l - 1])) --l;
      size_t r = i + 1;
      while (r < n && IsDomainByte(text[r])) ++r;
      if (l < i && r > i + 3) AddWindow(&w->email, l, r);
      email_floor = i + 1;
      continue;
    }
    if (c == ':') {
      if (i < colon_floor) continue;
      size_t l = i;
      while (l > colon_floor && IsHexOrColon(text[l - 1])) --l;
      size_t r = i;
      int colons = 0;
      while (r < n && (IsHexOrColon(text[r]) || text[r] == '.')) colons += text[r++] == ':';
      if (colons >= 2) AddWindow(&w->ipv6, l, r);
      colon_floor = r;
      continue;
    }
    // Japanese address: a municipality suffix (IsTrigger) with block numbers soon after.
    if (next_number < i) {
      next_number = i;
      while (next_number < n && !IsDigit(text[next_number]) &&
             !Is3(text, next_number, 0x4E01)) {  // 丁
        ++next_number;
      }
    }
    w->municipalities.push_back({i, next_number});
    if (next_number >= n || next_number - i > 120) continue;
    size_t b = i >= 32 ? i - 32 : 0;
    while (b < i && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) ++b;
    AddWindow(&w->address_ja, b, std::min(n, i + 160));
  }
}

struct Candidate {
  PiiType type;
  int priority;
  size_t start, end;
};

// The buffers of a detection pass, kept per thread: a warm pass allocates only its result. They
// keep the capacity of the longest message the thread has seen (normalize caps its length).
// A position where anchored patterns may have a candidate; bit `id` of `patterns` for each.
struct StartPoint {
  size_t at;
  uint16_t patterns;
};

struct Scratch {
  Windows windows;
  std::vector<StartPoint> starts;
  std::vector<Candidate> cands;
  std::vector<char> taken;  // bytes covered by a kept candidate, from the first candidate's start
};

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

// Runs the validator of pattern `id` on the match text[*s, *e), which it may narrow.
bool Confirm(Pat id, std::string_view text, size_t* s, size_t* e, const ContextFinder& ctx) {
  switch (id) {
    case kPatEmail:
      return ValidEmail(text, s, e);
    case kPatPhoneJp:
      return ValidPhoneJp(text, s, e, ctx);
    case kPatPhoneIntl:
      return ValidPhoneIntl(text, s, e);
    case kPatPhoneUs:
      return ValidPhoneUs(text, s, e, ctx);
    case kPatCard:
      return ValidCard(text, s, e, ctx);
    case kPatMyNumber:
      return ValidMyNumber(text, s, e, ctx);
    case kPatPostal:
      return ValidPostal(text, s, e, ctx);
    case kPatIpv4:
      return ValidIpv4(text, s, e, ctx);
    case kPatIpv6:
      return ValidIpv6(text, s, e);
    case kPatAddressJa:
      return ValidAddressJa(text, s, e);
    case kPatAddressUs:
      return ValidAddressUs(text, s, e);
    case kPatCount:
      break;
  }
  return false;
}

size_t CountDigits(std::string_view s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), IsDigit));
}

// Bit `id` of kFirstBytes[b] is set when a match of the anchored pattern `id` can begin with b.
constexpr std::array<uint16_t, 256> MakeFirstBytes() {
  std::array<uint16_t, 256> t{};
  for (const PatternDef& def : kPatterns) {
    for (char c : def.first)
      t[static_cast<unsigned char>(c)] |= static_cast<uint16_t>(1u << def.id);
  }
  return t;
}
static_assert(kPatCount <= 16);
constexpr std::array<uint16_t, 256> kFirstBytes = MakeFirstBytes();

// What the validators' start rules say about a position; computed once for all patterns.
struct StartRules {
  bool alone = false;           // StartStandsAlone(text, s, false)
  bool alone_phone = false;     // StartStandsAlone(text, s, true)
  bool postal_mark = false;     // 〒
  bool after_non_word = false;  // no letter, digit or '_' just before
};

StartRules StartRulesAt(std::string_view text, size_t s) {
  StartRules r;
  r.alone_phone = StartStandsAlone(text, s, true);
  r.alone = r.alone_phone && StartStandsAlone(text, s, false);  // the stricter rule
  r.postal_mark = Is3(text, s, kPostalMark);
  r.after_non_word = s == 0 || !IsWordByte(static_cast<unsigned char>(text[s - 1]));
  return r;
}

// The number of ASCII digits from text[p] on, stopping at `end`.
size_t DigitRun(std::string_view text, size_t p, size_t end) {
  size_t q = p;
  while (q < end && IsDigit(text[q])) ++q;
  return q - p;
}

// `[2-9]\d{2}\)?SEP?\d{3}SEP?\d{4}` can start at text[p] only if its run of digits is three
// long (then ')' or a separator), six long (then a separator) or ten or more.
bool UsAreaCodeAt(std::string_view text, size_t p, size_t end) {
  if (p >= end || text[p] < '2' || text[p] > '9') return false;
  size_t run = DigitRun(text, p, end);
  return run == 3 || run == 6 || run >= 10;
}

// Whether the regex of the anchored pattern `id` can match at text[s] (ending by `end`), judged
// from the run of `run` digits there; false only where RE2 would find no match.
bool MayMatchAt(Pat id, std::string_view text, size_t s, size_t end, size_t run) {
  auto at = [&](size_t i, char a, char b) { return i < end && (text[i] == a || text[i] == b); };
  switch (id) {
    case kPatPhoneJp:  // \(?0… or 0…
      return text[s] == '0' || (text[s] == '(' && at(s + 1, '0', '0'));
    case kPatPhoneIntl:  // \+\d…
      return s + 1 < end && IsDigit(text[s + 1]);
    case kPatPhoneUs:  // (?:1SEP?)?\(?[2-9]\d{2}…
      if (text[s] == '(') return UsAreaCodeAt(text, s + 1, end);
      if (text[s] == '1') return run == 1 || UsAreaCodeAt(text, s + 1, end);
      return UsAreaCodeAt(text, s, end);
    case kPatCard:  // \d{13,19} or \d{4}[ \-]…
      return run >= 13 || (run == 4 && at(s + 4, ' ', '-'));
    case kPatMyNumber:  // \d{12} or \d{4}[ \-]…
      return run >= 12 || (run == 4 && at(s + 4, ' ', '-'));
    case kPatPostal:  // 〒… or \d{3}DASH\d{4} or \d{7}
      return run == 0 ? Is3(text, s, kPostalMark) : run == 3 || run >= 7;
    case kPatIpv4:  // \d{1,3}\.…
      return run >= 1 && run <= 3 && at(s + run, '.', '.');
    default:
      return true;
  }
}

// The length of the dash of the postal code pattern (MA_DASH) at text[i], or 0.
size_t PostalDashLength(std::string_view text, size_t i) {
  if (i < text.size() && text[i] == '-') return 1;
  for (char32_t dash : {0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2015, 0x2212, 0x30FC}) {
    if (Is3(text, i, dash)) return 3;
  }
  return 0;
}

// Whether the match the regex of `id` would make at text[s] (ending by `end`; `run` digits there)
// is certainly refused, for a reason its shape shows: a My Number grouped 4-4-4 with differing
// separators or between further groups of the same kind, a postal code without 〒 whose last
// digit is glued to what follows. True too where no such match exists.
bool RefusedByShape(Pat id, std::string_view text, size_t s, size_t end, size_t run) {
  switch (id) {
    case kPatMyNumber: {
      if (run != 4) return false;  // \d{12}; run 4: only \d{4}[ \-]\d{4}[ \-]\d{4}
      if (s + 14 > end) return true;
      char sep = text[s + 4];
      if (text[s + 9] != sep) return true;
      if (s + 15 < text.size() && text[s + 14] == sep && IsDigit(text[s + 15])) return true;
      return s >= 2 && text[s - 1] == sep && IsDigit(text[s - 2]);
    }
    case kPatPostal: {  // \d{3}DASH\d{4} or \d{7} (〒 has run 0)
      if (run == 0) return false;
      size_t e = s + 7;
      if (run == 3) {
        size_t dash = PostalDashLength(text, s + 3);
        if (dash == 0 || DigitRun(text, s + 3 + dash, end) < 4) return true;
        e = s + 3 + dash + 4;
      }
      return !EndStandsAlone(text, e);
    }
    default:
      return false;
  }
}

// The patterns with each start rule, a bit per pattern.
constexpr auto kPatternsByStart = [] {
  std::array<uint16_t, kStartCount> masks{};
  for (const PatternDef& def : kPatterns) {
    masks[static_cast<size_t>(def.start)] |= static_cast<uint16_t>(1u << def.id);
  }
  return masks;
}();

// The patterns whose validators' start rules allow a candidate at a position.
uint16_t AllowedBy(const StartRules& r) {
  auto with = [](Start start) { return kPatternsByStart[static_cast<size_t>(start)]; };
  return with(Start::kAnywhere) | (r.alone ? with(Start::kAlone) : 0) |
         (r.alone_phone ? with(Start::kAlonePhone) : 0) |
         (r.postal_mark || r.alone ? with(Start::kAloneOrMark) : 0) |
         (r.after_non_word ? with(Start::kAfterNonWord) : 0);
}

// The anchored patterns among `ids` worth running at text[s], a bit per pattern: those whose
// match can begin with the byte there, whose validator's start rule allows the position, with
// enough ASCII digits in text[s, end) (`digits_left`), where the regex can match
// (MayMatchAt) and the shape of the match is not refused (RefusedByShape). Where a pattern is
// left out, RE2 finds no match or the validator refuses it, so it need not run there.
uint16_t PatternsToTry(std::span<const Pat> ids, std::string_view text, size_t s, size_t end,
                       size_t digits_left) {
  // Inside a run of digits no start rule holds.
  if (s > 0 && IsDigit(text[s]) && IsDigit(text[s - 1])) return 0;
  // The cheap conditions first.
  uint16_t first = kFirstBytes[static_cast<unsigned char>(text[s])];
  if (first == 0) return 0;
  uint16_t patterns = 0;
  for (Pat id : ids) {
    if ((first >> id & 1) != 0 && digits_left >= kPatterns[id].min_digits) patterns |= 1u << id;
  }
  if (patterns == 0) return 0;
  patterns &= AllowedBy(StartRulesAt(text, s));
  if (patterns == 0) return 0;
  size_t run = DigitRun(text, s, end);
  for (Pat id : ids) {
    if ((patterns >> id & 1) != 0 &&
        (!MayMatchAt(id, text, s, end, run) || RefusedByShape(id, text, s, end, run))) {
      patterns &= static_cast<uint16_t>(~(1u << id));
    }
  }
  return patterns;
}

// Whether the Japanese address pattern can match inside text[begin, end): every match has one of
// 市区町村郡 and, after it, block numbers, which hold an ASCII digit or 丁 (丁目).
bool MayHoldJaAddress(std::string_view text, const std::vector<Municipality>& municipalities,
                      size_t begin, size_t end) {
  // The first one at or after `begin` has the nearest block numbers.
  auto m = std::lower_bound(municipalities.begin(), municipalities.end(), begin,
                            [](const Municipality& m, size_t pos) { return m.at < pos; });
  if (m == municipalities.end() || m->at + 3 > end || m->next_number >= end) return false;
  return IsDigit(text[m->next_number]) || m->next_number + 3 <= end;  // a digit or 丁
}

// Copies `text` with each span replaced by its placeholder; `map` maps the copy back.
// `map` may be null when no one asks.
void BuildRedacted(std::string_view text, const std::vector<PiiSpan>& spans, std::string* out,
                   core::OffsetMap* map) {
  size_t size = text.size();
  for (const PiiSpan& s : spans) size = size - (s.end - s.start) + PiiPlaceholder(s.type).size();
  out->clear();
  out->reserve(size);
  if (map != nullptr) map->Clear();
  size_t pos = 0;
  auto copy = [&](size_t a, size_t b) {
    if (b <= a) return;
    size_t at = out->size();
    out->append(text.substr(a, b - a));
    if (map != nullptr) map->Add(at, out->size(), a, b, true);
  };
  for (const PiiSpan& s : spans) {
    copy(pos, s.start);
    std::string_view ph = PiiPlaceholder(s.type);
    size_t at = out->size();
    out->append(ph);
    if (map != nullptr) map->Add(at, out->size(), s.start, s.end, false);
    pos = s.end;
  }
  copy(pos, text.size());
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Redactor

Redactor::Redactor(std::unique_ptr<Patterns> patterns) : patterns_(std::move(patterns)) {}
Redactor::~Redactor() = default;

std::unique_ptr<Redactor> Redactor::Create() {
  auto p = std::make_unique<Patterns>();
  RE2::Options opts = PatternOptions();
  for (const PatternDef& def : kPatterns) {
    auto re = std::make_unique<RE2>(def.regex, opts);
    if (!re->ok()) {
      fprintf(stderr, "redactor: pattern %d does not compile: %s\n", def.id, re->error().c_str());
      abort();
    }
    p->regex.push_back(std::move(re));
  }
  p->keywords = std::make_unique<RE2>(BuildKeywordRegex(), opts);
  if (!p->keywords->ok()) {
    fprintf(stderr, "redactor: keyword pattern: %s\n", p->keywords->error().c_str());
    abort();
  }
  return std::unique_ptr<Redactor>(new Redactor(std::move(p)));
}

const Redactor& Redactor::Default() {
  static const Redactor* instance = Create().release();
  return *instance;
}

std::vector<PiiSpan> Redactor::FindOnce(std::string_view text) const {
  Scratch& scratch = ThreadScratch();
  Windows& windows = scratch.windows;
  windows.Clear();
  FindWindows(text, &windows);
  if (windows.Empty()) return {};

  ContextFinder ctx(text, *patterns_);
  std::vector<Candidate>& cands = scratch.cands;
  cands.clear();
  re2::StringPiece input = Piece(text);
  auto keep = [&](Pat id, size_t s, size_t e) {
    size_t vs = s, ve = e;
    if (!Confirm(id, text, &vs, &ve, ctx) || ve <= vs) return SIZE_MAX;
    cands.push_back({kPatterns[id].type, kPatterns[id].priority, vs, ve});
    return ve;
  };
  // Searches text[begin, end) with pattern `id` and keeps the candidates its validator confirms.
  auto search = [&](Pat id, size_t begin, size_t end) {
    const PatternDef& def = kPatterns[id];
    const RE2& re = *patterns_->regex[static_cast<size_t>(id)];
    re2::StringPiece m;
    size_t pos = begin;
    while (pos < end) {
      if (id == kPatAddressJa && !MayHoldJaAddress(text, windows.municipalities, pos, end)) {
        break;
      }
      if (!re.Match(input, pos, end, RE2::UNANCHORED, &m, 1)) break;
      size_t s = static_cast<size_t>(m.data() - text.data());
      size_t e = s + m.size();
      if (e == s) {
        pos = NextCodePoint(text, s);
        continue;
      }
      size_t ve = keep(id, s, e);
      if (ve != SIZE_MAX) {
        pos = ve;
      } else {
        pos = def.bounded ? NextCodePoint(text, s) : e;
      }
    }
  };
  // A pattern whose validator fixes where a candidate may start runs anchored at the positions
  // PatternsToTry lists. A search would also find matches elsewhere, and the validator would
  // refuse each and move on one character, so the confirmed candidates are the same.
  std::vector<StartPoint>& starts = scratch.starts;
  auto find_starts = [&](size_t begin, size_t end, std::span<const Pat> ids) {
    starts.clear();
    size_t digits_left = CountDigits(text.substr(begin, end - begin));  // in text[s, end)
    for (size_t s = begin; s < end;) {
      uint16_t patterns = PatternsToTry(ids, text, s, end, digits_left);
      if (patterns != 0) starts.push_back({s, patterns});
      // PatternsToTry returns nothing for the other digits of a run.
      size_t run = std::max<size_t>(DigitRun(text, s, end), 1);
      digits_left -= IsDigit(text[s]) ? run : 0;
      s += run;
    }
  };
  auto scan_anchored = [&](Pat id, size_t end) {
    const RE2& re = *patterns_->regex[static_cast<size_t>(id)];
    re2::StringPiece m;
    size_t pos = 0;
    for (const StartPoint& start : starts) {
      if ((start.patterns >> id & 1) == 0 || start.at < pos) continue;
      if (re.Match(input, start.at, end, RE2::ANCHOR_START, &m, 1) && !m.empty()) {
        size_t ve = keep(id, start.at, start.at + m.size());
        if (ve != SIZE_MAX) pos = ve;
      }
    }
  };

  for (const Window& w : windows.digits) {
    find_starts(w.begin, w.end, kDigitPatterns);
    for (Pat id : kDigitPatterns) {
      if (!starts.empty()) scan_anchored(id, w.end);
    }
  }
  // An e-mail window starts at the first local-part byte before its '@' (FindWindows), so the
  // leftmost match, if there is one for that '@', starts exactly there: matched anchored, it
  // needs no reverse scan for its start. Otherwise (no match for the first '@' of a window that
  // holds two) the window is searched as a whole.
  for (const Window& w : windows.email) {
    const RE2& re = *patterns_->regex[static_cast<size_t>(kPatEmail)];
    re2::StringPiece m;
    size_t from = w.begin;
    if (re.Match(input, w.begin, w.end, RE2::ANCHOR_START, &m, 1) && !m.empty()) {
      size_t ve = keep(kPatEmail, w.begin, w.begin + m.size());
      from = ve != SIZE_MAX ? ve : w.begin + m.size();  // unbounded: go on past the match
    }
    search(kPatEmail, from, w.end);
  }
  for (const Window& w : windows.ipv6) search(kPatIpv6, w.begin, w.end);
  for (const Window& w : windows.address_us) {
    find_starts(w.begin, w.end, kUsAddressPattern);
    scan_anchored(kPatAddressUs, w.end);
  }
  for (const Window& w : windows.address_ja) search(kPatAddressJa, w.begin, w.end);
  if (cands.empty()) return {};

  std::sort(cands.begin(), cands.end(), [](const Candidate& a, const Candidate& b) {
    if (a.priority != b.priority) return a.priority > b.priority;
    if (a.end - a.start != b.end - b.start) return a.end - a.start > b.end - b.start;
    return a.start < b.start;
  });
  // Each candidate in that order takes its bytes unless one is taken already. Candidates of one
  // pattern are disjoint, so this touches each byte at most once per pattern.
  size_t lo = SIZE_MAX, hi = 0;
  for (const Candidate& c : cands) {
    lo = std::min(lo, c.start);
    hi = std::max(hi, c.end);
  }
  std::vector<char>& taken = scratch.taken;
  taken.assign(hi - lo, 0);
  std::vector<PiiSpan> spans;
  for (const Candidate& c : cands) {
    auto first = taken.begin() + static_cast<ptrdiff_t>(c.start - lo);
    auto last = taken.begin() + static_cast<ptrdiff_t>(c.end - lo);
    if (std::find(first, last, 1) != last) continue;
    std::fill(first, last, 1);
    spans.push_back({c.type, c.start, c.end});
  }
  std::sort(spans.begin(), spans.end(),
            [](const PiiSpan& a, const PiiSpan& b) { return a.start < b.start; });
  return spans;
}

std::string Redactor::CheckShortcuts(std::string_view text) const {
  constexpr Pat kAnchored[] = {kPatPhoneJp,  kPatPhoneIntl, kPatPhoneUs, kPatCard,
                               kPatMyNumber, kPatPostal,    kPatIpv4,    kPatAddressUs};
  ContextFinder ctx(text, *patterns_);
  re2::StringPiece input = Piece(text);
  for (size_t s = 0; s < text.size(); ++s) {
    // A region ends at the end of the text or, for digit clusters, after a digit or ')'.
    std::vector<size_t> ends = {text.size()};
    for (size_t e = s + 1; e < text.size() && ends.size() < 8; ++e) {
      if (IsDigit(text[e - 1]) || text[e - 1] == ')') ends.push_back(e);
    }
    for (size_t end : ends) {
      uint16_t tried = PatternsToTry(kAnchored, text, s, end, CountDigits(text.substr(s, end - s)));
      for (Pat id : kAnchored) {
        if ((tried >> id & 1) != 0) continue;
        re2::StringPiece m;
        const RE2& re = *patterns_->regex[static_cast<size_t>(id)];
        if (!re.Match(input, s, end, RE2::ANCHOR_START, &m, 1) || m.empty()) continue;
        size_t vs = s, ve = s + m.size();
        if (Confirm(id, text, &vs, &ve, ctx) && ve > vs) {
          return absl::StrCat("pattern ", static_cast<int>(id), " would confirm \"",
                              core::ToAbsl(text.substr(vs, ve - vs)), "\" at ", s, " (region end ",
                              end, ") but is not tried there");
        }
      }
    }
  }
  // The keyword scanner finds what the keyword regex finds, from any start to any end.
  for (size_t pos = 0; pos < text.size(); ++pos) {
    for (size_t hi = pos + 1; hi <= text.size(); ++hi) {
      re2::StringPiece m;
      bool found = patterns_->keywords->Match(input, pos, hi, RE2::UNANCHORED, &m, 1);
      KeywordScanner::Match k;
      bool scanned = patterns_->keyword_scanner.Next(text, pos, hi, &k);
      size_t ms = found ? static_cast<size_t>(m.data() - text.data()) : 0;
      if (found != scanned || (found && (ms != k.start || ms + m.size() != k.end))) {
        return absl::StrCat("in [", pos, ", ", hi, ") the keyword regex finds ",
                            found ? absl::StrCat("[", ms, ", ", ms + m.size(), ")") : "nothing",
                            ", the scanner ",
                            scanned ? absl::StrCat("[", k.start, ", ", k.end, ")") : "nothing");
      }
    }
  }
  return "";
}

Redaction Redactor::Redact(std::string_view text) const { return RedactOwned(std::string(text)); }

Redaction Redactor::RedactOwned(std::string owned) const {
  // Each further pass needs a redaction from the pass before to change a neighbour; chains are
  // short in practice and bounded here (the fuzzer checks that the output is a fixed point).
  constexpr int kMaxPasses = 8;
  Redaction r;
  std::vector<PiiSpan> spans = FindOnce(owned);
  if (spans.empty()) {
    r.text = std::move(owned);
    return r;
  }
  std::string_view text = owned;
  core::OffsetMap map;  // r.text → text, built once a further pass finds something
  BuildRedacted(text, spans, &r.text, nullptr);
  for (int pass = 1; pass < kMaxPasses; ++pass) {
    std::vector<PiiSpan> more = FindOnce(r.text);
    if (more.empty()) break;
    if (map.empty()) BuildRedacted(text, spans, &r.text, &map);
    for (const PiiSpan& s : more) {
      auto [b, e] = map.MapRange(s.start, s.end);
      spans.push_back({s.type, b, e});
    }
    // Merge: a later finding that covers earlier ones (cannot happen with the built-in patterns,
    // whose characters never include placeholder brackets) absorbs them.
    std::sort(spans.begin(), spans.end(),
              [](const PiiSpan& a, const PiiSpan& b) { return a.start < b.start; });
    std::vector<PiiSpan> merged;
    for (const PiiSpan& s : spans) {
      if (!merged.empty() && s.start < merged.back().end) {
        merged.back().end = std::max(merged.back().end, s.end);
        continue;
      }
      merged.push_back(s);
    }
    spans = std::move(merged);
    BuildRedacted(text, spans, &r.text, &map);
  }
  for (const PiiSpan& s : spans) {
    uint16_t& c = r.counts[static_cast<size_t>(s.type)];
    if (c < UINT16_MAX) ++c;
  }
  r.spans = std::move(spans);
  return r;
}

}  // namespace mangaassist::privacy
