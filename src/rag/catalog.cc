#include "rag/catalog.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/language.h"
#include "core/normalize.h"
#include "simdjson.h"
#include "utf8proc.h"

namespace mangaassist::rag {
namespace {

// ---------------------------------------------------------------------------------------------
// Text folding. Titles, names and messages are all reduced to the same "folded" form before they
// are compared: NFKC, lowercase, punctuation and symbols become a single space between two Latin
// words and vanish next to Japanese text (which has no word spacing), apostrophes, middle dots
// and combining marks vanish. Latin words (letters and digits of any non-Japanese script) are the
// word-matching unit; Japanese characters are matched as substrings.

enum class CharClass : uint8_t { kSep, kDrop, kWord, kJa };

CharClass Classify(char32_t cp) {
  if (cp < 0x80) {
    if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9')) {
      return CharClass::kWord;
    }
    return cp == '\'' ? CharClass::kDrop : CharClass::kSep;
  }
  switch (cp) {
    case 0x2018:  // ‘
    case 0x2019:  // ’
    case 0x30A0:  // ゠
    case 0x30FB:  // ・ (ブラック・ジャック is also typed ブラックジャック)
    case 0xFF65:  // half-width ・
      return CharClass::kDrop;
    default:
      break;
  }
  if (core::IsJapaneseCodepoint(cp)) return CharClass::kJa;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return CharClass::kWord;
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
      return CharClass::kDrop;
    default:
      return CharClass::kSep;
  }
}

bool IsSentenceEnd(char32_t cp) {
  return cp == '.' || cp == '!' || cp == '?' || cp == '\n' || cp == 0x3002;  // 。
}

bool IsQuote(char32_t cp) {
  switch (cp) {
    case '"':
    case '(':
    case ')':
    case '[':
    case ']':
    case 0x201C:
    case 0x201D:  // “ ”
    case 0x3008:
    case 0x3009:  // 〈 〉
    case 0x300A:
    case 0x300B:  // 《 》
    case 0x300C:
    case 0x300D:  // 「 」
    case 0x300E:
    case 0x300F:  // 『 』
    case 0x3010:
    case 0x3011:  // 【 】
      return true;
    default:
      return false;
  }
}

bool IsUpper(char32_t cp) {
  if (cp < 0x80) return cp >= 'A' && cp <= 'Z';
  return utf8proc_category(static_cast<utf8proc_int32_t>(cp)) == UTF8PROC_CATEGORY_LU;
}

char32_t Lower(char32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  return static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp)));
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {  // most of what is folded: no encoder call
    out->push_back(static_cast<char>(cp));
    return;
  }
  utf8proc_uint8_t buf[4];
  const utf8proc_ssize_t n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), buf);
  out->append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

size_t Utf8Length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  return 2;
}

char32_t DecodeAt(std::string_view s, size_t pos) {
  utf8proc_int32_t cp = 0;
  utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + pos),
                   static_cast<utf8proc_ssize_t>(s.size() - pos), &cp);
  return static_cast<char32_t>(cp < 0 ? 0 : cp);
}

struct LatinToken {
  uint32_t begin;
  uint32_t end;
  bool capitalized;     // first letter was upper case in the original text
  bool sentence_start;  // first word of the text or of a sentence
  uint16_t letters = 0;
  uint16_t upper = 0;
};

struct Folded {
  std::string text;
  std::vector<LatinToken> tokens;                 // Latin word runs, in order
  std::vector<std::pair<uint32_t, uint32_t>> ja;  // Japanese runs [begin, end)
  std::vector<uint32_t> quote_open;               // offsets right after an opening quote
  std::vector<uint32_t> quote_close;              // offsets right before a closing quote
  std::string nfkc;                               // NFKC scratch
  bool shouting = false;  // most words are ALL CAPS: capitals say nothing about titles

  void Clear() {
    shouting = false;
    text.clear();
    tokens.clear();
    ja.clear();
    quote_open.clear();
    quote_close.clear();
  }
};

// Folds `in` into out->text and records Latin tokens, Japanese runs and quote marks.
// NFKC through core::Normalize (which also drops control characters and folds whitespace),
// skipped for pure ASCII, which it would not change in any way that matters here.
std::string_view Nfkc(std::string_view in, std::string* storage) {
  if (std::all_of(in.begin(), in.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    return in;
  }
  core::NormalizeOptions options;
  options.invalid_utf8 = core::InvalidUtf8::kReplace;
  auto normalized = core::Normalize(in, options);
  if (!normalized.ok()) return in;  // cannot happen without a length cap; keep the raw text
  *storage = std::move(normalized->text);
  return *storage;
}

void Fold(std::string_view in, Folded* out) {
  out->Clear();
  const std::string_view src = Nfkc(in, &out->nfkc);
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(src.data());

  CharClass last = CharClass::kSep;  // class of the last emitted character
  bool pending_sep = false, pending_quote = false, sentence_start = true;
  for (size_t i = 0; i < src.size();) {
    char32_t cp = static_cast<unsigned char>(src[i]);
    if (cp < 0x80) {
      ++i;
    } else {
      utf8proc_int32_t decoded = ' ';
      const utf8proc_ssize_t n =
          utf8proc_iterate(bytes + i, static_cast<utf8proc_ssize_t>(src.size() - i), &decoded);
      i += n > 0 ? static_cast<size_t>(n) : 1;
      cp = n > 0 ? static_cast<char32_t>(decoded) : U' ';
    }
    const CharClass c = Classify(cp);
    if (c == CharClass::kDrop) continue;
    if (c == CharClass::kSep) {
      pending_sep = true;
      if (IsSentenceEnd(cp)) sentence_start = true;
      if (IsQuote(cp)) {
        out->quote_close.push_back(static_cast<uint32_t>(out->text.size()));
        pending_quote = true;
      }
      continue;
    }
    const bool new_word = c == CharClass::kWord && (last != CharClass::kWord || pending_sep);
    if (new_word && last == CharClass::kWord) out->text.push_back(' ');
    const auto pos = static_cast<uint32_t>(out->text.size());
    if (pending_quote) {
      out->quote_open.push_back(pos);
      pending_quote = false;
    }
    if (c == CharClass::kWord) {
      if (new_word) out->tokens.push_back({pos, pos, IsUpper(cp), sentence_start});
      AppendUtf8(Lower(cp), &out->text);
      LatinToken& tok = out->tokens.back();
      tok.end = static_cast<uint32_t>(out->text.size());
      if (!(cp >= '0' && cp <= '9')) {
        tok.letters = static_cast<uint16_t>(std::min<int>(tok.letters + 1, 0xFFFF));
        if (IsUpper(cp)) tok.upper = static_cast<uint16_t>(std::min<int>(tok.upper + 1, 0xFFFF));
      }
    } else {                                                      // kJa
      if (last != CharClass::kJa) out->ja.push_back({pos, pos});  // else: run continues
      AppendUtf8(cp, &out->text);
      out->ja.back().second = static_cast<uint32_t>(out->text.size());
    }
    last = c;
    pending_sep = false;
    sentence_start = false;
  }
  size_t words = 0, caps = 0;
  for (const LatinToken& tok : out->tokens) {
    if (tok.letters < 2) continue;
    ++words;
    caps += tok.upper == tok.letters;
  }
  out->shouting = caps * 2 > words;
}

bool IsWordCharAt(std::string_view text, size_t pos) {
  const unsigned char c = static_cast<unsigned char>(text[pos]);
  if (c < 0x80) return c != ' ';
  return !core::IsJapaneseCodepoint(DecodeAt(text, pos));
}

bool IsWordCharBefore(std::string_view text, size_t pos) {
  size_t p = pos - 1;
  while (p > 0 && (static_cast<unsigned char>(text[p]) & 0xC0) == 0x80) --p;
  return IsWordCharAt(text, p);
}

// Heuristic word lists (see catalog.h). A Latin key made only of ordinary words ("Monster",
// "Look Back", "I LOVE", "HUMAN") must stand out in the message: quoted, followed by a volume
// number, or capitalized like a title. Distinctive words ("piece", "ghoul", "naruto") are
// deliberately absent. The 26k-row MADB catalog has many such titles.
// clang-format off
const absl::flat_hash_set<std::string_view>& CommonWords() {
  static const auto* const kWords = new absl::flat_hash_set<std::string_view>({
      // function words and contractions (apostrophes are folded away: "what's" → "whats")
      "a", "about", "after", "again", "ahead", "all", "also", "am", "an", "and", "any", "are",
      "as", "at", "be", "because", "been", "before", "both", "but", "by", "can", "cant", "could",
      "did", "didnt", "do", "does", "doesnt", "dont", "down", "each", "even", "ever", "every",
      "for", "from", "had", "has", "have", "he", "her", "here", "him", "his", "how", "hows", "i",
      "if", "im", "in", "into", "is", "isnt", "it", "its", "ive", "just", "me", "my", "no", "not",
      "now", "of", "off", "on", "once", "only", "or", "other", "our", "out", "over", "she", "so",
      "some", "still", "than", "that", "thats", "the", "their", "them", "then", "there", "these",
      "they", "this", "to", "too", "two", "up", "us", "very", "was", "we", "well", "were", "what",
      "whats", "when", "where", "wheres", "which", "while", "who", "whos", "why", "will", "with",
      "wont", "would", "yes", "yet", "you", "youre", "your", "zero",
      // everyday words
      "agent", "anything", "back", "bad", "best", "better", "big", "black", "blame", "blue", "bot",
      "box", "boy", "boys", "brother", "buy", "call", "came", "car", "cars", "change", "check",
      "christmas", "close", "cold", "come", "cool", "cute", "dark", "day", "days", "dear", "done",
      "dream", "end", "evening", "family", "fine", "first", "free", "friend", "friends", "fun",
      "get", "girl", "girls", "give", "go", "gold", "good", "great", "happy", "hello", "help",
      "hero", "hey", "hi", "high", "home", "hope", "hotel", "howdy", "human", "kid", "kids",
      "kind", "kiss", "know", "last", "late", "life", "like", "line", "link", "little", "live",
      "long", "look", "love", "made", "major", "make", "man", "many", "may", "merry", "mix",
      "money", "monster", "more", "morning", "most", "much", "must", "name", "nana", "need", "new",
      "news", "next", "nice", "night", "number", "ok", "okay", "old", "one", "open", "orange",
      "people", "person", "plan", "please", "rain", "read", "real", "reborn", "remember", "rest",
      "right", "room", "run", "same", "say", "school", "see", "set", "should", "show", "sign",
      "sister", "size", "soon", "star", "step", "stop", "sunny", "switch", "take", "team", "tell",
      "thank", "thanks", "thing", "time", "today", "too", "touch", "true", "use", "want",
      "warning", "way", "week", "work", "world", "year",
      // shop and manga vocabulary
      "account", "address", "anime", "book", "books", "card", "cart", "cancel", "comic", "comics",
      "coupon", "delivery", "edition", "email", "english", "mail", "manga", "novel", "order",
      "orders", "page", "paid", "pay", "payment", "price", "refund", "return", "sale", "series",
      "ship", "shipping", "shop", "staff", "stock", "store", "story", "support", "track",
      "tracking", "vol", "volume", "volumes",
      // pen names and titles that are common first names
      "emma", "fuse",
  });
  return *kWords;
}
// clang-format on

// Place and brand names: capitalized anyway, so only quotes or a volume number make them titles.
// clang-format off
const absl::flat_hash_set<std::string_view>& CommonNames() {
  static const auto* const kNames = new absl::flat_hash_set<std::string_view>({
      "amazon", "america", "apple", "canada", "dhl", "fedex", "google", "hokkaido", "japan",
      "japanese", "kyoto", "london", "okinawa", "osaka", "paypal", "paypay", "tokyo", "ups",
      "visa",
  });
  return *kNames;
}
// clang-format on

// Everyday Japanese words and phrases that also appear as titles; a key equal to one of them
// (after folding) must be quoted, followed by a volume number (3巻) or be the whole message.
// clang-format off
const absl::flat_hash_set<std::string_view>& CommonJapanese() {
  static const auto* const kPhrases = new absl::flat_hash_set<std::string_view>({
      "ありがとう", "ありがとね", "ありがとうございます", "ありがとうございました",
      "お願い", "お願いします", "よろしく", "よろしくお願いします", "こんにちは",
      "こんばんは", "おはよう", "おはようございます", "さようなら", "すみません",
      "ごめんなさい", "大丈夫", "了解", "リンク", "ライン", "メール", "パスワード",
      "ログイン", "アカウント", "ポイント", "クーポン", "キャンペーン", "セール", "注文",
      "配送", "送料", "返品", "支払い", "在庫", "新刊", "最新刊", "予約", "発売日", "漫画",
      "マンガ", "まんが", "コミック", "全巻", "ともだち", "友達", "家族", "学校", "東京",
      "日本", "今日", "明日", "昨日",
  });
  return *kPhrases;
}
// clang-format on

// Words right after an ordinary-word title that show it is a title ("monster vol 3").
bool IsVolumeCue(std::string_view word) {
  return word == "vol" || word == "vols" || word == "volume" || word == "volumes";
}

constexpr std::string_view kVolumeKanji = "\xE5\xB7\xBB";  // 巻

bool IsAllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool IsHiragana(char32_t cp) { return cp >= 0x3040 && cp <= 0x309F; }

// ---------------------------------------------------------------------------------------------
// Index layout.

enum KeyFlags : uint8_t {
  kStartsWord = 1,   // first character is a Latin word character: needs a word boundary before
  kEndsWord = 2,     // last character is a Latin word character: needs a word boundary after
  kStrictLatin = 4,  // ordinary word(s): quoted, volume number after, or capitalized as a title
  kStrictName = 8,   // place or brand name: quoted or volume number after
  kStrictJa = 16,    // short or everyday Japanese: quoted, N巻 after, or the whole message
};

struct Key {
  uint32_t text_begin = 0;  // into Index::pool
  uint32_t text_len = 0;
  uint32_t targets_begin = 0;  // into Index::targets
  uint32_t targets_count = 0;
  uint32_t anchor_offset = 0;  // byte offset of the anchor gram inside the key text
  uint16_t score = 0;
  uint8_t flags = 0;
};

struct Target {
  uint32_t entry = 0;
  MatchField field = MatchField::kTitle;
  bool japanese_name = false;  // kAuthor: matched authors_ja[index]
  uint16_t index = 0;          // alias or author index
};

struct PostingRange {
  uint32_t begin = 0;
  uint32_t count = 0;
};

// Titles and aliases first, then works where the name is the first author, then co-authored ones.
int TargetRank(const Target& t) {
  if (t.field != MatchField::kAuthor) return 0;
  return t.index == 0 ? 1 : 2;
}

int PopularityRank(const CatalogEntry& e) { return e.popularity < 0 ? INT_MAX : e.popularity; }

struct Hit {
  uint32_t key;
  uint32_t begin;
  uint32_t end;
};

struct RawMatch {
  uint32_t entry;
  int field_rank;
  int score;
  int popularity;
  Target target;
};

struct Scratch {
  Folded folded;
  std::vector<Hit> hits;
  std::vector<Hit> kept;
  std::vector<RawMatch> raw;
};

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

}  // namespace

struct Catalog::Index {
  std::vector<CatalogEntry> entries;
  absl::flat_hash_map<std::string_view, uint32_t> by_id;
  std::string pool;
  std::vector<Key> keys;
  std::vector<Target> targets;
  std::vector<uint32_t> postings;
  absl::flat_hash_map<std::string_view, PostingRange> grams;
  bool has_unigram_anchors = false;

  absl::Status Build();
  void Probe(std::string_view gram, uint32_t pos, const Folded& q, std::vector<Hit>* hits) const;
};

namespace {

// A key before it is laid out in the pool.
struct KeyDraft {
  std::string text;
  uint8_t flags = 0;
  uint16_t score = 0;
  struct Gram {
    uint32_t offset;
    uint32_t len;
    bool unigram;
  };
  std::vector<Gram> grams;
  std::vector<Target> targets;
};

class IndexBuilder {
 public:
  explicit IndexBuilder(const std::vector<CatalogEntry>& entries) : entries_(entries) {}

  void AddEntry(uint32_t idx) {
    const CatalogEntry& e = entries_[idx];
    AddKey(e.title, {idx, MatchField::kTitle, false, 0}, e.strict_match);
    AddKey(e.title_ja, {idx, MatchField::kTitleJa, false, 0}, e.strict_match);
    for (size_t i = 0; i < e.aliases.size(); ++i) {
      AddKey(e.aliases[i], {idx, MatchField::kAlias, false, static_cast<uint16_t>(i)},
             e.strict_match);
    }
    for (size_t i = 0; i < e.authors.size(); ++i) {
      const Target t{idx, MatchField::kAuthor, false, static_cast<uint16_t>(i)};
      AddKey(e.authors[i], t, false);
      AddNameVariants(e.authors[i], t);
    }
    for (size_t i = 0; i < e.authors_ja.size(); ++i) {
      AddKey(e.authors_ja[i], {idx, MatchField::kAuthor, true, static_cast<uint16_t>(i)}, false);
    }
  }

  std::vector<KeyDraft>& drafts() { return drafts_; }

 private:
  // "Naoki Urasawa" is also typed "Urasawa Naoki" (Japanese order) or "Urasawa" alone.
  void AddNameVariants(const std::string& name, const Target& t) {
    Fold(name, &folded_);
    const auto& toks = folded_.tokens;
    if (!folded_.ja.empty() || toks.size() < 2) return;
    const std::string text = folded_.text;
    std::vector<std::string> words;
    for (const auto& tok : toks) words.push_back(text.substr(tok.begin, tok.end - tok.begin));
    for (const auto& w : words) {
      if (w.size() < 2 || CommonWords().contains(w)) return;
    }
    if (words.size() == 2) AddFoldedKey(absl::StrCat(words[1], " ", words[0]), t, false);
    const std::string& surname = words.back();
    if (surname.size() >= 3 && !IsAllDigits(surname)) {
      AddFoldedKey(surname, t, /*strict=*/surname.size() < 5);
    }
  }

  void AddKey(const std::string& raw, const Target& t, bool entry_strict) {
    if (raw.empty()) return;
    Fold(raw, &folded_);
    if (folded_.text.empty()) return;
    const bool latin_only = folded_.ja.empty();
    const std::string text = folded_.text;  // AddFoldedKey re-folds into folded_
    AddFoldedKey(text, t, entry_strict && latin_only && t.field != MatchField::kAuthor);
  }

  // `text` is already folded.
  void AddFoldedKey(const std::string& text, const Target& t, bool force_strict) {
    Fold(text, &folded_);  // re-derive tokens and runs for `text` (folding is idempotent)
    const auto& toks = folded_.tokens;
    uint8_t flags = 0;
    if (IsWordCharAt(text, 0)) flags |= kStartsWord;
    {
      size_t last = text.size() - 1;
      while (last > 0 && (static_cast<unsigned char>(text[last]) & 0xC0) == 0x80) --last;
      if (IsWordCharAt(text, last)) flags |= kEndsWord;
    }
    if (folded_.ja.empty()) {
      bool strict = force_strict;
      if (toks.size() == 1) {
        const std::string_view w(text);
        size_t cps = 0;
        for (unsigned char c : w) cps += (c & 0xC0) != 0x80;
        strict = strict || cps < 3 || IsAllDigits(w);
      }
      bool all_common = true, any_name = false;
      for (const auto& tok : toks) {
        const std::string_view w = std::string_view(text).substr(tok.begin, tok.end - tok.begin);
        const bool name = CommonNames().contains(w);
        any_name = any_name || name;
        all_common = all_common && (name || CommonWords().contains(w));
      }
      strict = strict || all_common;
      if (strict) flags |= (all_common && any_name) ? kStrictName : kStrictLatin;
    } else if (toks.empty()) {
      size_t cps = 0;
      bool all_hiragana = true;
      for (size_t p = 0; p < text.size(); p += Utf8Length(static_cast<unsigned char>(text[p]))) {
        ++cps;
        all_hiragana = all_hiragana && IsHiragana(DecodeAt(text, p));
      }
      if (cps < 3 || (all_hiragana && cps < 5) || CommonJapanese().contains(text)) {
        flags |= kStrictJa;
      }
    }

    std::string id = text;  // the same text may be strict for one row and not for another
    id.push_back(static_cast<char>('0' + (flags & (kStrictLatin | kStrictName))));
    auto [it, inserted] = draft_ids_.try_emplace(id, static_cast<uint32_t>(drafts_.size()));
    if (inserted) {
      KeyDraft d;
      d.text = text;
      d.flags = flags;
      int score = 0;
      for (size_t p = 0; p < text.size(); p += Utf8Length(static_cast<unsigned char>(text[p]))) {
        if (text[p] == ' ') continue;
        score += core::IsJapaneseCodepoint(DecodeAt(text, p)) ? 2 : 1;
      }
      d.score = static_cast<uint16_t>(std::min(score, 0xFFFF));
      for (const auto& tok : toks) d.grams.push_back({tok.begin, tok.end - tok.begin, false});
      for (const auto& [b, e] : folded_.ja) {
        size_t p = b;
        const size_t first_len = Utf8Length(static_cast<unsigned char>(text[p]));
        if (p + first_len == e) {
          d.grams.push_back({b, e - b, true});
          continue;
        }
        while (p < e) {
          const size_t l1 = Utf8Length(static_cast<unsigned char>(text[p]));
          if (p + l1 >= e) break;
          const size_t l2 = Utf8Length(static_cast<unsigned char>(text[p + l1]));
          d.grams.push_back({static_cast<uint32_t>(p), static_cast<uint32_t>(l1 + l2), false});
          p += l1;
        }
      }
      drafts_.push_back(std::move(d));
    }
    drafts_[it->second].targets.push_back(t);
  }

  const std::vector<CatalogEntry>& entries_;
  Folded folded_;
  std::vector<KeyDraft> drafts_;
  absl::flat_hash_map<std::string, uint32_t> draft_ids_;
};

}  // namespace

absl::Status Catalog::Index::Build() {
  by_id.reserve(entries.size());
  for (uint32_t i = 0; i < entries.size(); ++i) {
    if (entries[i].id.empty()) return absl::InvalidArgumentError("catalog entry with an empty id");
    if (!by_id.try_emplace(entries[i].id, i).second) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate catalog id '", entries[i].id, "'"));
    }
  }

  IndexBuilder builder(entries);
  for (uint32_t i = 0; i < entries.size(); ++i) builder.AddEntry(i);
  std::vector<KeyDraft>& drafts = builder.drafts();

  // How many keys contain each gram: a key is posted under its rarest one.
  absl::flat_hash_map<std::string_view, uint32_t> freq;
  for (const KeyDraft& d : drafts) {
    for (size_t g = 0; g < d.grams.size(); ++g) {
      const std::string_view gram(d.text.data() + d.grams[g].offset, d.grams[g].len);
      bool seen = false;
      for (size_t h = 0; h < g && !seen; ++h) {
        seen = std::string_view(d.text.data() + d.grams[h].offset, d.grams[h].len) == gram;
      }
      if (!seen) ++freq[gram];
    }
  }

  size_t pool_size = 0;
  for (const KeyDraft& d : drafts) pool_size += d.text.size();
  pool.reserve(pool_size);
  keys.resize(drafts.size());
  std::vector<std::pair<std::string_view, uint32_t>> anchored;  // (anchor in pool, key)
  anchored.reserve(drafts.size());
  for (uint32_t k = 0; k < drafts.size(); ++k) {
    KeyDraft& d = drafts[k];
    Key& key = keys[k];
    key.text_begin = static_cast<uint32_t>(pool.size());
    key.text_len = static_cast<uint32_t>(d.text.size());
    key.flags = d.flags;
    key.score = d.score;
    pool.append(d.text);
    if (d.grams.empty()) continue;  // cannot happen for a non-empty folded key
    const KeyDraft::Gram* best = nullptr;
    uint32_t best_freq = 0;
    for (const auto& g : d.grams) {
      const uint32_t f = freq[std::string_view(d.text.data() + g.offset, g.len)];
      const bool better =
          best == nullptr || (best->unigram && !g.unigram) ||
          (best->unigram == g.unigram && (f < best_freq || (f == best_freq && g.len > best->len)));
      if (better) {
        best = &g;
        best_freq = f;
      }
    }
    key.anchor_offset = best->offset;
    has_unigram_anchors = has_unigram_anchors || best->unigram;
    anchored.emplace_back(std::string_view(pool.data() + key.text_begin + best->offset, best->len),
                          k);

    // Targets best-first, so a lookup can stop early on names with hundreds of works.
    std::sort(d.targets.begin(), d.targets.end(), [&](const Target& a, const Target& b) {
      const auto ka = std::make_tuple(TargetRank(a), PopularityRank(entries[a.entry]), a.entry);
      const auto kb = std::make_tuple(TargetRank(b), PopularityRank(entries[b.entry]), b.entry);
      return ka < kb;
    });
    key.targets_begin = static_cast<uint32_t>(targets.size());
    key.targets_count = static_cast<uint32_t>(d.targets.size());
    targets.insert(targets.end(), d.targets.begin(), d.targets.end());
  }
  std::sort(anchored.begin(), anchored.end());
  postings.reserve(anchored.size());
  for (size_t i = 0; i < anchored.size();) {
    size_t j = i;
    while (j < anchored.size() && anchored[j].first == anchored[i].first) {
      postings.push_back(anchored[j].second);
      ++j;
    }
    grams[anchored[i].first] = {static_cast<uint32_t>(i), static_cast<uint32_t>(j - i)};
    i = j;
  }
  return absl::OkStatus();
}

namespace {

enum class Strictness { kLatin, kName, kJapanese };

// True when a strict key found at [begin, end) of the folded message clearly names a title.
bool StandsOut(const Folded& q, uint32_t begin, uint32_t end, Strictness strictness) {
  const std::string_view t = q.text;
  const auto token_at = [&](uint32_t pos) {
    return std::lower_bound(q.tokens.begin(), q.tokens.end(), pos,
                            [](const LatinToken& tok, uint32_t p) { return tok.begin < p; });
  };
  const auto word = [&](std::vector<LatinToken>::const_iterator it) {
    return t.substr(it->begin, it->end - it->begin);
  };
  // Quoted: "Monster", 「亜人」.
  if (std::find(q.quote_open.begin(), q.quote_open.end(), begin) != q.quote_open.end() &&
      std::find(q.quote_close.begin(), q.quote_close.end(), end) != q.quote_close.end()) {
    return true;
  }
  // A volume number right after: "亜人3巻", "monster 3巻", "monster vol 3", "monster vol.3".
  size_t p = end;
  if (p < t.size() && t[p] == ' ') ++p;
  size_t digits = p;
  while (digits < t.size() && t[digits] >= '0' && t[digits] <= '9') ++digits;
  if (t.substr(digits, kVolumeKanji.size()) == kVolumeKanji) return true;
  if (auto next = token_at(end); next != q.tokens.end() && next->begin <= end + 1) {
    const std::string_view w = word(next);
    if (IsVolumeCue(w) && next + 1 != q.tokens.end() && next[1].begin == next->end + 1 &&
        IsAllDigits(word(next + 1))) {
      return true;
    }
    if (w.size() > 3 && w.substr(0, 3) == "vol" && IsAllDigits(w.substr(3))) return true;
  }
  if (strictness == Strictness::kName) return false;
  const bool whole = begin == 0 && end == t.size();
  if (strictness == Strictness::kJapanese) return whole;
  // Capitalized like a title, and not merely because it starts a sentence or the user shouts.
  auto first = token_at(begin);
  if (q.shouting || first == q.tokens.end() || first->begin != begin) return false;
  if (first->sentence_start && !whole) return false;
  for (auto it = first; it != q.tokens.end() && it->begin < end; ++it) {
    if (!it->capitalized) return false;
  }
  return true;
}

}  // namespace

void Catalog::Index::Probe(std::string_view gram, uint32_t pos, const Folded& q,
                           std::vector<Hit>* hits) const {
  const auto it = grams.find(gram);
  if (it == grams.end()) return;
  const std::string_view text = q.text;
  constexpr size_t kMaxHits = 512;
  for (uint32_t i = 0; i < it->second.count; ++i) {
    const uint32_t k = postings[it->second.begin + i];
    const Key& key = keys[k];
    if (pos < key.anchor_offset) continue;
    const uint32_t begin = pos - key.anchor_offset;
    const uint32_t end = begin + key.text_len;
    if (end > text.size()) continue;
    if (std::memcmp(text.data() + begin, pool.data() + key.text_begin, key.text_len) != 0) continue;
    if ((key.flags & kStartsWord) && begin > 0 && IsWordCharBefore(text, begin)) continue;
    if ((key.flags & kEndsWord) && end < text.size() && IsWordCharAt(text, end)) continue;
    if ((key.flags & kStrictLatin) && !StandsOut(q, begin, end, Strictness::kLatin)) continue;
    if ((key.flags & kStrictName) && !StandsOut(q, begin, end, Strictness::kName)) continue;
    if ((key.flags & kStrictJa) && !StandsOut(q, begin, end, Strictness::kJapanese)) continue;
    if (hits->size() >= kMaxHits) return;
    hits->push_back({k, begin, end});
  }
}

Catalog::Catalog(std::unique_ptr<Index> index) : index_(std::move(index)) {}
Catalog::~Catalog() = default;

size_t Catalog::size() const { return index_->entries.size(); }
const std::vector<CatalogEntry>& Catalog::entries() const { return index_->entries; }

const CatalogEntry* Catalog::FindById(std::string_view id) const {
  const auto it = index_->by_id.find(id);
  return it == index_->by_id.end() ? nullptr : &index_->entries[it->second];
}

std::vector<CatalogMatch> Catalog::Find(std::string_view text, size_t max_results) const {
  std::vector<CatalogMatch> out;
  if (max_results == 0 || text.empty()) return out;
  if (text.size() > kMaxFindInputBytes) {
    size_t cut = kMaxFindInputBytes;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    text = text.substr(0, cut);
  }
  const Index& ix = *index_;
  Scratch& s = ThreadScratch();
  Fold(text, &s.folded);
  const Folded& q = s.folded;
  const std::string_view qt = q.text;
  s.hits.clear();

  for (const LatinToken& tok : q.tokens) {
    ix.Probe(qt.substr(tok.begin, tok.end - tok.begin), tok.begin, q, &s.hits);
  }
  for (const auto& [b, e] : q.ja) {
    for (size_t p = b; p < e;) {
      const size_t l1 = Utf8Length(static_cast<unsigned char>(qt[p]));
      if (ix.has_unigram_anchors) ix.Probe(qt.substr(p, l1), static_cast<uint32_t>(p), q, &s.hits);
      if (p + l1 < e) {
        const size_t l2 = Utf8Length(static_cast<unsigned char>(qt[p + l1]));
        ix.Probe(qt.substr(p, l1 + l2), static_cast<uint32_t>(p), q, &s.hits);
      }
      p += l1;
    }
  }
  if (s.hits.empty()) return out;

  // Drop hits inside a longer hit: "naruto" within "boruto naruto next generations".
  std::sort(s.hits.begin(), s.hits.end(), [](const Hit& a, const Hit& b) {
    return (a.end - a.begin) > (b.end - b.begin) ||
           ((a.end - a.begin) == (b.end - b.begin) &&
            (a.begin < b.begin || (a.begin == b.begin && a.key < b.key)));
  });
  s.kept.clear();
  for (const Hit& h : s.hits) {
    bool inside = false;
    for (const Hit& k : s.kept) {
      if (k.begin <= h.begin && h.end <= k.end && (k.end - k.begin) > (h.end - h.begin)) {
        inside = true;
        break;
      }
      if (k.key == h.key) {  // same key seen again elsewhere in the message
        inside = true;
        break;
      }
    }
    if (!inside) s.kept.push_back(h);
  }

  // Expand to entries. Targets are stored best-first; a little slack covers entries that are
  // later dropped as duplicates of a better match.
  const size_t per_key = max_results + 8;
  s.raw.clear();
  for (const Hit& h : s.kept) {
    const Key& key = ix.keys[h.key];
    const uint32_t n = std::min<uint32_t>(key.targets_count, static_cast<uint32_t>(per_key));
    for (uint32_t i = 0; i < n; ++i) {
      const Target& t = ix.targets[key.targets_begin + i];
      s.raw.push_back({t.entry, TargetRank(t), key.score, PopularityRank(ix.entries[t.entry]), t});
    }
  }
  std::sort(s.raw.begin(), s.raw.end(), [](const RawMatch& a, const RawMatch& b) {
    if (a.field_rank != b.field_rank) return a.field_rank < b.field_rank;
    if (a.score != b.score) return a.score > b.score;
    if (a.popularity != b.popularity) return a.popularity < b.popularity;
    return a.entry < b.entry;
  });
  for (const RawMatch& r : s.raw) {
    bool dup = false;
    for (const CatalogMatch& m : out) {
      if (m.entry == &ix.entries[r.entry]) {
        dup = true;
        break;
      }
    }
    if (dup) continue;
    const CatalogEntry& e = ix.entries[r.entry];
    CatalogMatch m;
    m.entry = &e;
    m.field = r.target.field;
    m.score = r.score;
    switch (r.target.field) {
      case MatchField::kTitle:
        m.matched = e.title;
        break;
      case MatchField::kTitleJa:
        m.matched = e.title_ja;
        break;
      case MatchField::kAlias:
        m.matched = e.aliases[r.target.index];
        break;
      case MatchField::kAuthor:
        m.author_index = r.target.index;
        m.matched =
            r.target.japanese_name ? e.authors_ja[r.target.index] : e.authors[r.target.index];
        break;
    }
    out.push_back(m);
    if (out.size() >= max_results) break;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Loading.

namespace {

using simdjson::dom::element;
using simdjson::dom::object;

// Each reader returns an empty string on success, otherwise the reason the line is bad.
std::string ReadString(const object& obj, const char* key, std::string* out) {
  element v;
  if (obj.at_key(key).get(v) != simdjson::SUCCESS || v.is_null()) return {};
  std::string_view s;
  if (v.get_string().get(s) != simdjson::SUCCESS) {
    return absl::StrCat("field '", key, "' must be a string or null");
  }
  out->assign(s);
  return {};
}

std::string ReadStrings(const object& obj, const char* key, std::vector<std::string>* out) {
  element v;
  if (obj.at_key(key).get(v) != simdjson::SUCCESS || v.is_null()) return {};
  simdjson::dom::array arr;
  if (v.get_array().get(arr) != simdjson::SUCCESS) {
    return absl::StrCat("field '", key, "' must be an array of strings or null");
  }
  for (element item : arr) {
    std::string_view s;
    if (item.get_string().get(s) != simdjson::SUCCESS) {
      return absl::StrCat("field '", key, "' must be an array of strings or null");
    }
    if (!s.empty()) out->emplace_back(s);
  }
  return {};
}

std::string ReadInt(const object& obj, const char* key, int* out) {
  element v;
  if (obj.at_key(key).get(v) != simdjson::SUCCESS || v.is_null()) return {};
  int64_t n = 0;
  if (v.get_int64().get(n) != simdjson::SUCCESS) {
    return absl::StrCat("field '", key, "' must be an integer or null");
  }
  if (n < 0 || n > INT_MAX) return absl::StrCat("field '", key, "' is out of range");
  *out = static_cast<int>(n);
  return {};
}

std::string ReadBool(const object& obj, const char* key, bool* out) {
  element v;
  if (obj.at_key(key).get(v) != simdjson::SUCCESS || v.is_null()) return {};
  if (v.get_bool().get(*out) != simdjson::SUCCESS) {
    return absl::StrCat("field '", key, "' must be true, false or null");
  }
  return {};
}

// `padded`: the line sits inside a padded buffer (the whole file), so no copy is needed.
std::string ParseRow(simdjson::dom::parser& parser, std::string_view line, bool padded,
                     CatalogEntry* e) {
  element doc;
  if (auto err = parser.parse(line.data(), line.size(), !padded).get(doc);
      err != simdjson::SUCCESS) {
    return absl::StrCat("invalid JSON (", simdjson::error_message(err), ")");
  }
  object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) return "not a JSON object";
  std::string why;
  if (!(why = ReadString(obj, "id", &e->id)).empty()) return why;
  if (e->id.empty()) return "field 'id' must be a non-empty string";
  if (!(why = ReadString(obj, "title", &e->title)).empty()) return why;
  if (!(why = ReadString(obj, "title_ja", &e->title_ja)).empty()) return why;
  if (e->title.empty() && e->title_ja.empty())
    return "no title: 'title' and 'title_ja' are both empty or null";
  if (!(why = ReadStrings(obj, "authors", &e->authors)).empty()) return why;
  if (!(why = ReadStrings(obj, "authors_ja", &e->authors_ja)).empty()) return why;
  if (!(why = ReadStrings(obj, "genres", &e->genres)).empty()) return why;
  if (!(why = ReadStrings(obj, "aliases", &e->aliases)).empty()) return why;
  if (!(why = ReadString(obj, "demographic", &e->demographic)).empty()) return why;
  if (!(why = ReadString(obj, "status", &e->status)).empty()) return why;
  if (!(why = ReadInt(obj, "volumes", &e->volumes)).empty()) return why;
  if (!(why = ReadInt(obj, "chapters", &e->chapters)).empty()) return why;
  if (!(why = ReadString(obj, "start_date", &e->start_date)).empty()) return why;
  if (!(why = ReadString(obj, "end_date", &e->end_date)).empty()) return why;
  if (!(why = ReadString(obj, "synopsis", &e->synopsis)).empty()) return why;
  if (!(why = ReadInt(obj, "popularity", &e->popularity)).empty()) return why;
  if (!(why = ReadBool(obj, "strict_match", &e->strict_match)).empty()) return why;
  return {};
}

}  // namespace

absl::StatusOr<CatalogEntry> ParseCatalogRow(std::string_view json) {
  thread_local simdjson::dom::parser parser;
  CatalogEntry e;
  if (std::string why = ParseRow(parser, json, /*padded=*/false, &e); !why.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("catalog row: ", why));
  }
  return e;
}

absl::StatusOr<std::unique_ptr<Catalog>> Catalog::FromEntries(std::vector<CatalogEntry> entries) {
  auto index = std::make_unique<Index>();
  index->entries = std::move(entries);
  if (absl::Status st = index->Build(); !st.ok()) return st;
  return std::unique_ptr<Catalog>(new Catalog(std::move(index)));
}

absl::StatusOr<std::unique_ptr<Catalog>> Catalog::LoadJsonl(const std::string& path,
                                                            LoadReport* report) {
  LoadReport local;
  LoadReport& rep = report != nullptr ? *report : local;
  rep = LoadReport();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat("catalog file not found: ", path));
  }
  simdjson::padded_string content;
  if (auto err = simdjson::padded_string::load(path).get(content); err != simdjson::SUCCESS) {
    return absl::UnavailableError(
        absl::StrCat("cannot read catalog file ", path, ": ", simdjson::error_message(err)));
  }

  std::vector<CatalogEntry> entries;
  absl::flat_hash_map<std::string, size_t> first_line;  // id → line number
  simdjson::dom::parser parser;
  const std::string_view all(content.data(), content.size());
  size_t line_no = 0;
  for (size_t pos = 0; pos < all.size();) {
    size_t nl = all.find('\n', pos);
    if (nl == std::string_view::npos) nl = all.size();
    std::string_view line = all.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.remove_suffix(1);
    }
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;

    CatalogEntry e;
    std::string why = ParseRow(parser, line, /*padded=*/true, &e);
    if (why.empty()) {
      auto [it, inserted] = first_line.try_emplace(e.id, line_no);
      if (!inserted) {
        why = absl::StrCat("duplicate id '", e.id, "' (first on line ", it->second, ")");
      }
    }
    if (!why.empty()) {
      ++rep.bad_line_count;
      if (rep.bad_lines.size() < LoadReport::kMaxListedBadLines) {
        rep.bad_lines.push_back(absl::StrCat(path, ":", line_no, ": ", why));
      }
      continue;
    }
    entries.push_back(std::move(e));
  }
  rep.loaded_rows = entries.size();
  if (entries.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("catalog file ", path, " has no valid rows (",
                                                   rep.bad_line_count, " bad lines)"));
  }
  return FromEntries(std::move(entries));
}

}  // namespace mangaassist::rag
