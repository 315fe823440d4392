// Language of a message from its Unicode scripts, following shared/data/intent/LABELS.md:
//   en    — no kana or kanji (romaji counts as en; so does text with no letters at all);
//   ja    — kana or kanji and no English word;
//   mixed — kana or kanji plus at least one Latin-script word of two or more letters.
// Tokens that contain a digit (order numbers, coupon codes, tracking numbers) and single
// letters are not English words. Expects NFKC-normalized input but tolerates full-width forms.
// Pure function; thread-safe.
#pragma once

#include <string_view>

namespace mangaassist::core {

enum class Lang { kEn = 0, kJa = 1, kMixed = 2 };
inline constexpr int kLangCount = 3;

std::string_view LangName(Lang lang);
bool ParseLang(std::string_view name, Lang* out);

// Detects the language of UTF-8 text. Invalid bytes are skipped. Linear in the input.
Lang DetectLanguage(std::string_view text);

// What DetectLanguage decides from, for text read in pieces (a piece boundary ends a token, as
// a space would): scan each piece with the signals so far, then LangOf. Stops early once both
// are set.
struct LanguageSignals {
  bool japanese = false;      // kana or kanji seen
  bool english_word = false;  // a Latin-script word of two or more letters, no digit, seen
};
LanguageSignals ScanLanguage(std::string_view text, LanguageSignals so_far = {});
Lang LangOf(LanguageSignals signals);

// True for Hiragana, Katakana (full and half width), CJK ideographs and the iteration marks.
bool IsJapaneseCodepoint(char32_t cp);

}  // namespace mangaassist::core
