#include "core/language.h"

#include "core/normalize.h"

namespace mangaassist::core {

std::string_view LangName(Lang lang) {
  switch (lang) {
    case Lang::kJa: return "ja";
    case Lang::kMixed: return "mixed";
    case Lang::kEn: break;
  }
  return "en";
}

bool ParseLang(std::string_view name, Lang* out) {
  if (name == "en") { *out = Lang::kEn; return true; }
  if (name == "ja") { *out = Lang::kJa; return true; }
  if (name == "mixed") { *out = Lang::kMixed; return true; }
  return false;
}

bool IsJapaneseCodepoint(char32_t cp) {
  return (cp >= 0x3040 && cp <= 0x30FF) ||    // Hiragana, Katakana
         (cp >= 0x31F0 && cp <= 0x31FF) ||    // Katakana phonetic extensions
         (cp >= 0xFF66 && cp <= 0xFF9F) ||    // half-width Katakana
         (cp >= 0x3400 && cp <= 0x4DBF) ||    // CJK extension A
         (cp >= 0x4E00 && cp <= 0x9FFF) ||    // CJK unified ideographs
         (cp >= 0xF900 && cp <= 0xFAFF) ||    // CJK compatibility ideographs
         (cp >= 0x20000 && cp <= 0x3134F) ||  // CJK extensions B..G
         cp == 0x3005 || cp == 0x3006 || cp == 0x303B;  // 々 〆 〻
}

namespace {

bool IsLatinLetter(char32_t cp) {
  if ((cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z')) return true;
  if ((cp >= 0xFF21 && cp <= 0xFF3A) || (cp >= 0xFF41 && cp <= 0xFF5A)) return true;  // full-width
  return (cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7);  // Latin-1 / Extended-A/B
}

bool IsDigit(char32_t cp) { return (cp >= '0' && cp <= '9') || (cp >= 0xFF10 && cp <= 0xFF19); }

// Characters that glue a token together (MA-2025-004512, e-mail, don't).
bool IsJoiner(char32_t cp) { return cp == '-' || cp == '\'' || cp == 0xFF0D || cp == '_'; }

}  // namespace

Lang LangOf(LanguageSignals signals) {
  if (!signals.japanese) return Lang::kEn;
  return signals.english_word ? Lang::kMixed : Lang::kJa;
}

Lang DetectLanguage(std::string_view text) { return LangOf(ScanLanguage(text)); }

LanguageSignals ScanLanguage(std::string_view text, LanguageSignals so_far) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  size_t left = text.size();
  bool japanese = so_far.japanese, english_word = so_far.english_word;
  if (japanese && english_word) return so_far;
  int letters = 0;
  bool digit = false, in_token = false;
  auto end_token = [&] {
    if (in_token && letters >= 2 && !digit) english_word = true;
    letters = 0;
    digit = false;
    in_token = false;
  };
  while (left > 0) {
    // Once kana or kanji were seen only an English word can change the answer, and no character
    // with a lead byte in E0..EE (U+0800..U+EFFF: no Latin letter, digit or joiner; full-width
    // forms start with EF) can be part of one: skip it whole. An ill-formed sequence of a lead
    // and two continuation bytes would end the token byte by byte, which is the same.
    if (japanese && left >= 3 && p[0] >= 0xE0 && p[0] <= 0xEE && (p[1] & 0xC0) == 0x80 &&
        (p[2] & 0xC0) == 0x80) {
      end_token();
      p += 3;
      left -= 3;
      continue;
    }
    char32_t cp = *p;
    int n = cp < 0x80 ? 1 : DecodeUtf8(p, left, &cp);  // ASCII needs no decoding
    if (n <= 0) {  // invalid byte: skip it
      ++p;
      --left;
      end_token();
      continue;
    }
    p += n;
    left -= static_cast<size_t>(n);
    char32_t c = cp;
    if (c >= 0x3000 && c < 0xFF00) {
      // Kana, kanji and CJK punctuation: no Latin letter, digit or joiner lives here.
      end_token();
      if (IsJapaneseCodepoint(c)) japanese = true;
    } else if (IsLatinLetter(c)) {
      in_token = true;
      ++letters;
    } else if (IsDigit(c)) {
      in_token = true;
      digit = true;
    } else if (in_token && IsJoiner(c)) {
      // stays inside the token
    } else {
      end_token();
      if (IsJapaneseCodepoint(c)) japanese = true;
    }
    if (japanese && english_word) return {true, true};
  }
  end_token();
  return {japanese, english_word};
}

}  // namespace mangaassist::core
