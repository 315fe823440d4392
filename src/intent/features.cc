#include "intent/features.h"

#include <string>

#include "core/language.h"
#include "utf8proc.h"
#include "xxhash.h"

namespace mangaassist::intent {
namespace {

// One seed per feature family, so "ab" as a word and "ab" as a character bigram differ.
enum Seed : uint64_t {
  kWord = 0x9E3779B97F4A7C15ull,
  kWordBigram = 0xC2B2AE3D27D4EB4Full,
  kWordTrigramChar = 0x165667B19E3779F9ull,
  kWordPrefix = 0x27D4EB2F165667C5ull,
  kJa1 = 0x85EBCA77C2B2AE63ull,
  kJa2 = 0xFF51AFD7ED558CCDull,
  kJa3 = 0xC4CEB9FE1A85EC53ull,
  kJaWhole = 0x2545F4914F6CDD1Dull,
  kQuestion = 0x94D049BB133111EBull,
};

enum class Kind { kSeparator, kLatin, kJapanese };

Kind Classify(int32_t cp) {
  if (cp < 0x80) {
    if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9')) {
      return Kind::kLatin;
    }
    return Kind::kSeparator;
  }
  if (core::IsJapaneseCodepoint(static_cast<char32_t>(cp))) return Kind::kJapanese;
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
      return Kind::kLatin;
    default:
      return Kind::kSeparator;
  }
}

// A run of non-separator characters in the folded text.
struct Segment {
  uint32_t begin = 0, end = 0;  // bytes of Scratch::text
  uint32_t cp_begin = 0;        // index into Scratch::cp_offsets
  uint32_t cp_count = 0;
  bool japanese = false;
};

struct Scratch {
  std::string text;                  // lower-cased, digits folded, separators as one ' '
  std::vector<uint32_t> cp_offsets;  // byte offset of each code point of `text`
  std::vector<Segment> segments;
};

class Emitter {
 public:
  Emitter(const std::string& text, const FeatureOptions& o, std::vector<uint32_t>* out)
      : text_(text), mask_((uint32_t{1} << o.bucket_bits) - 1), max_(o.max_features), out_(out) {}

  // False once the cap is reached.
  bool Emit(uint32_t begin, uint32_t end, uint64_t seed) {
    if (out_->size() >= max_) return false;
    out_->push_back(
        static_cast<uint32_t>(XXH3_64bits_withSeed(text_.data() + begin, end - begin, seed)) &
        mask_);
    return true;
  }
  bool full() const { return out_->size() >= max_; }

 private:
  const std::string& text_;
  const uint32_t mask_;
  const size_t max_;
  std::vector<uint32_t>* out_;
};

}  // namespace

FeatureStats ExtractFeatures(std::string_view input, const FeatureOptions& options,
                             std::vector<uint32_t>* out) {
  out->clear();
  thread_local Scratch s;
  s.text.clear();
  s.cp_offsets.clear();
  s.segments.clear();
  FeatureStats stats;
  bool question = false;

  // Fold the text into `s.text`, reading at most max_codepoints code points.
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(input.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(input.size());
  bool in_digits = false;
  Segment seg;
  bool in_segment = false;
  auto close_segment = [&] {
    if (!in_segment) return;
    seg.end = static_cast<uint32_t>(s.text.size());
    seg.cp_count = static_cast<uint32_t>(s.cp_offsets.size()) - seg.cp_begin;
    s.segments.push_back(seg);
    in_segment = false;
  };
  while (left > 0) {
    if (stats.codepoints_read >= options.max_codepoints) {
      stats.truncated = true;
      break;
    }
    utf8proc_int32_t cp = -1;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0) {  // invalid byte: skip it
      ++p;
      --left;
      continue;
    }
    p += n;
    left -= n;
    ++stats.codepoints_read;
    const Kind kind = Classify(cp);
    if (kind == Kind::kSeparator) {
      if (cp == '?' || cp == 0xFF1F) question = true;
      close_segment();
      in_digits = false;
      if (!s.text.empty() && s.text.back() != ' ') s.text.push_back(' ');
      continue;
    }
    const bool digit = (cp >= '0' && cp <= '9') || utf8proc_category(cp) == UTF8PROC_CATEGORY_ND;
    if (digit && in_digits) continue;  // a run of digits is one '0'
    in_digits = digit;
    if (!in_segment) {
      seg = Segment{static_cast<uint32_t>(s.text.size()), 0,
                    static_cast<uint32_t>(s.cp_offsets.size()), 0, false};
      in_segment = true;
    }
    s.cp_offsets.push_back(static_cast<uint32_t>(s.text.size()));
    if (digit) {
      s.text.push_back('0');
    } else if (cp < 0x80) {
      s.text.push_back(static_cast<char>(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp));
    } else {
      utf8proc_uint8_t buf[4];
      utf8proc_ssize_t k = utf8proc_encode_char(cp, buf);
      s.text.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(k));
      if (kind == Kind::kJapanese) seg.japanese = true;
    }
  }
  close_segment();
  s.cp_offsets.push_back(static_cast<uint32_t>(s.text.size()));  // end sentinel

  Emitter e(s.text, options, out);
  const Segment* prev_word = nullptr;
  auto cp_at = [&](uint32_t i) { return s.cp_offsets[i]; };
  for (const Segment& g : s.segments) {
    if (e.full()) break;
    if (!g.japanese) {
      e.Emit(g.begin, g.end, kWord);
      // Adjacent words are separated by exactly one space, so "w1 w2" is one span.
      if (options.word_bigrams && prev_word != nullptr && prev_word->end + 1 == g.begin) {
        e.Emit(prev_word->begin, g.end, kWordBigram);
      }
      prev_word = &g;
      if (options.word_char_max >= 3 && g.cp_count >= 4) {
        e.Emit(cp_at(g.cp_begin), cp_at(g.cp_begin + 3), kWordPrefix);
        for (uint32_t n = 3; n <= static_cast<uint32_t>(options.word_char_max); ++n) {
          for (uint32_t i = 0; i + n <= g.cp_count; ++i) {
            if (!e.Emit(cp_at(g.cp_begin + i), cp_at(g.cp_begin + i + n), kWordTrigramChar + n)) {
              break;
            }
          }
        }
      }
      continue;
    }
    prev_word = nullptr;
    if (g.cp_count <= 6) e.Emit(g.begin, g.end, kJaWhole);
    // Runs of one script inside the segment (katakana loanwords, kanji compounds) as words:
    // キャンセル, 発送, 返品 — what a tokenizer would give, without a dictionary.
    if (options.ja_script_words) {
      uint32_t run_start = 0;
      int run_script = -1;
      for (uint32_t i = 0; i <= g.cp_count; ++i) {
        int script = -1;
        if (i < g.cp_count) {
          const uint32_t b = cp_at(g.cp_begin + i);
          int32_t cp = -1;
          utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.text.data() + b),
                           static_cast<utf8proc_ssize_t>(s.text.size() - b), &cp);
          script = (cp >= 0x30A0 && cp <= 0x30FF) || (cp >= 0xFF66 && cp <= 0xFF9F)   ? 1
                   : (cp >= 0x3400 && cp <= 0x9FFF) || (cp >= 0xF900 && cp <= 0xFAFF) ? 2
                                                                                      : 0;
        }
        if (script != run_script) {
          if (run_script > 0 && i - run_start >= 2) {
            e.Emit(cp_at(g.cp_begin + run_start), cp_at(g.cp_begin + i), kJaWhole + 1);
          }
          run_start = i;
          run_script = script;
        }
      }
    }
    for (uint32_t i = 0; i < g.cp_count && !e.full(); ++i) {
      const uint32_t at = g.cp_begin + i;
      e.Emit(cp_at(at), cp_at(at + 1), kJa1);
      if (i + 2 <= g.cp_count) e.Emit(cp_at(at), cp_at(at + 2), kJa2);
      if (i + 3 <= g.cp_count && options.ja_max_n >= 3) e.Emit(cp_at(at), cp_at(at + 3), kJa3);
      if (i + 4 <= g.cp_count && options.ja_max_n >= 4) e.Emit(cp_at(at), cp_at(at + 4), kJa3 + 4);
    }
  }
  if (question && !e.full()) {
    static const std::string kQ = "?";
    out->push_back(static_cast<uint32_t>(XXH3_64bits_withSeed(kQ.data(), 1, kQuestion)) &
                   ((uint32_t{1} << options.bucket_bits) - 1));
  }
  if (e.full()) stats.truncated = true;
  stats.features = out->size();
  return stats;
}

}  // namespace mangaassist::intent
