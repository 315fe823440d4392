#include "core/normalize.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "utf8proc.h"

namespace mangaassist::core {

// ---------------------------------------------------------------------------------------------
// OffsetMap

void OffsetMap::Add(size_t out_begin, size_t out_end, size_t in_begin, size_t in_end, bool exact) {
  if (!segments_.empty()) {
    Segment& last = segments_.back();
    if (exact && last.exact && last.out_end == out_begin && last.in_end == in_begin) {
      last.out_end = out_end;
      last.in_end = in_end;
      return;
    }
  }
  segments_.push_back(Segment{out_begin, out_end, in_begin, in_end, exact});
}

const OffsetMap::Segment& OffsetMap::Find(size_t pos) const {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), pos,
                             [](size_t p, const Segment& s) { return p < s.out_end; });
  if (it == segments_.end()) return segments_.back();
  return *it;
}

std::pair<size_t, size_t> OffsetMap::MapRange(size_t begin, size_t end) const {
  if (segments_.empty()) return {0, 0};
  if (begin >= end) {
    const Segment& s = Find(begin);
    size_t p = begin >= s.out_end ? s.in_end
               : s.exact          ? s.in_begin + (begin - s.out_begin)
                                  : s.in_begin;
    return {p, p};
  }
  const Segment& first = Find(begin);
  size_t in_begin = first.exact ? first.in_begin + (begin - first.out_begin) : first.in_begin;
  const Segment& last = Find(end - 1);
  size_t in_end = last.exact ? last.in_begin + (end - last.out_begin) : last.in_end;
  return {in_begin, std::max(in_begin, in_end)};
}

// ---------------------------------------------------------------------------------------------
// Decoding and character classes

int DecodeUtf8(const unsigned char* p, size_t left, char32_t* cp) {
  unsigned char b0 = p[0];
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  if (b0 < 0xC2) return 0;  // continuation byte or overlong 2-byte lead
  if (b0 < 0xE0) {
    if (left < 2 || (p[1] & 0xC0) != 0x80) return 0;
    *cp = (char32_t{b0 & 0x1Fu} << 6) | (p[1] & 0x3Fu);
    return 2;
  }
  if (b0 < 0xF0) {
    if (left < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
    char32_t c = (char32_t{b0 & 0x0Fu} << 12) | (char32_t{p[1] & 0x3Fu} << 6) | (p[2] & 0x3Fu);
    if (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return 3;
  }
  if (b0 < 0xF5) {
    if (left < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) {
      return 0;
    }
    char32_t c = (char32_t{b0 & 0x07u} << 18) | (char32_t{p[1] & 0x3Fu} << 12) |
                 (char32_t{p[2] & 0x3Fu} << 6) | (p[3] & 0x3Fu);
    if (c < 0x10000 || c > 0x10FFFF) return 0;
    *cp = c;
    return 4;
  }
  return 0;
}

namespace {

constexpr char32_t kReplacement = 0xFFFD;
constexpr int kMaxDecomposition = 18;  // longest NFKC expansion of one code point (U+FDFA)

// Code points that NFKC leaves alone and that never compose with the character before them:
// kana, the common CJK ideographs and CJK punctuation. Japanese text stays on this fast path.
// (normalize_test checks every one of them against utf8proc.)
inline bool IsStableJapanese(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) ||  // CJK unified ideographs
         (cp >= 0x3041 && cp <= 0x3096) ||  // Hiragana
         (cp >= 0x30A1 && cp <= 0x30FE) ||  // Katakana, ・ ー ヽ ヾ
         (cp >= 0x3001 && cp <= 0x301F) ||  // 、。〃々〆〇「」『』【】〒〜 …
         (cp >= 0x309D && cp <= 0x309E) ||  // ゝ ゞ
         (cp >= 0x3400 && cp <= 0x4DBF);    // CJK extension A
}

// Full-width forms of ASCII ! .. ~ : NFKC maps them to ASCII by subtracting 0xFEE0.
inline bool IsFullwidthAscii(char32_t cp) { return cp >= 0xFF01 && cp <= 0xFF5E; }

// The full-width ASCII character (EF BC 81..EF BD 9E) whose three bytes start at data[i], or 0.
inline char32_t FullwidthAsciiAt(const unsigned char* data, size_t n, size_t i) {
  if (i + 2 >= n || data[i] != 0xEF || (data[i + 1] & 0xC0) != 0x80 ||
      (data[i + 2] & 0xC0) != 0x80) {
    return 0;
  }
  char32_t cp = 0xF000 | (char32_t{data[i + 1] & 0x3Fu} << 6) | (data[i + 2] & 0x3Fu);
  return IsFullwidthAscii(cp) ? cp : 0;
}

enum class CpClass { kKeep, kRemove, kSpace };

CpClass Classify(char32_t cp) {
  if (cp < 0x80) {
    if (cp >= 0x21 && cp < 0x7F) return CpClass::kKeep;
    if (cp == ' ' || (cp >= '\t' && cp <= '\r')) return CpClass::kSpace;
    return CpClass::kRemove;  // other C0 controls and DEL
  }
  if (IsStableJapanese(cp) || IsFullwidthAscii(cp)) return CpClass::kKeep;
  if (cp == 0x85) return CpClass::kSpace;  // NEL
  if ((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE) return CpClass::kRemove;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
      return CpClass::kRemove;
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
      return CpClass::kSpace;
    default:
      return CpClass::kKeep;
  }
}

// True when `next` belongs to the composition unit of `prev`: a combining mark, a voiced-sound
// mark, a grapheme extender or spacing mark, or a Hangul jamo that composes with the syllable
// before it. Every second element of a canonical composition is one of these.
bool Joins(char32_t prev, char32_t next) {
  if (next < 0x80 || IsStableJapanese(next) || IsFullwidthAscii(next)) return false;
  const utf8proc_property_t* p = utf8proc_get_property(static_cast<utf8proc_int32_t>(next));
  if (p->combining_class != 0) return true;
  switch (p->boundclass) {
    case UTF8PROC_BOUNDCLASS_EXTEND:
    case UTF8PROC_BOUNDCLASS_SPACINGMARK:
    case UTF8PROC_BOUNDCLASS_ZWJ:
    case UTF8PROC_BOUNDCLASS_V:
    case UTF8PROC_BOUNDCLASS_T:
      return true;
    case UTF8PROC_BOUNDCLASS_L:
    case UTF8PROC_BOUNDCLASS_LV:
    case UTF8PROC_BOUNDCLASS_LVT:
      return prev >= 0x80 &&
             utf8proc_get_property(static_cast<utf8proc_int32_t>(prev))->boundclass ==
                 UTF8PROC_BOUNDCLASS_L;
    default:
      return false;
  }
}

// Appends normalized pieces to the output, folding whitespace and recording offsets.
class Emitter {
 public:
  Emitter(std::string* out, OffsetMap* map) : out_(out), map_(map) {}

  void Space(size_t in_begin, size_t in_end, bool single_ascii_space) {
    if (out_->empty()) return;  // leading whitespace
    if (!pending_) {
      pending_ = true;
      space_exact_ = single_ascii_space;
      space_begin_ = in_begin;
    } else {
      space_exact_ = false;
    }
    space_end_ = in_end;
  }

  void Bytes(const char* p, size_t len, size_t in_begin, size_t in_end, bool exact) {
    if (len == 0) return;
    if (pending_) {
      pending_ = false;
      Append(" ", 1, space_begin_, space_end_, space_exact_);
    }
    Append(p, len, in_begin, in_end, exact);
  }

 private:
  void Append(const char* p, size_t len, size_t in_begin, size_t in_end, bool exact) {
    size_t at = out_->size();
    out_->append(p, len);
    if (map_ != nullptr) map_->Add(at, at + len, in_begin, in_end, exact);
  }

  std::string* out_;
  OffsetMap* map_;
  bool pending_ = false;  // whitespace seen since the last output; trailing runs are dropped
  bool space_exact_ = false;
  size_t space_begin_ = 0, space_end_ = 0;
};

// Reads the next code point at or after `pos` that is not removed. Returns false at the end or
// at an invalid byte. Sets *at to its offset, *cp and *len.
bool PeekKept(const unsigned char* data, size_t n, size_t pos, size_t* at, char32_t* cp, int* len) {
  while (pos < n) {
    int l = DecodeUtf8(data + pos, n - pos, cp);
    if (l == 0) return false;
    if (Classify(*cp) != CpClass::kRemove) {
      *at = pos;
      *len = l;
      return true;
    }
    pos += static_cast<size_t>(l);
  }
  return false;
}

// NFKC of one composition unit: decompose each code point (compatibility), put the combining
// marks in canonical order (a stable sort of each run of non-starters by combining class, so a
// pathological run of marks costs O(k log k)), then compose. The result replaces `buf`.
void NormalizeUnit(const std::vector<char32_t>& cps, std::vector<utf8proc_int32_t>* buf) {
  constexpr utf8proc_option_t kOptions =
      static_cast<utf8proc_option_t>(UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_STABLE);
  buf->clear();
  utf8proc_int32_t tmp[kMaxDecomposition];
  for (char32_t cp : cps) {
    int boundclass = 0;
    utf8proc_ssize_t r = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(cp), tmp,
                                                 kMaxDecomposition, kOptions, &boundclass);
    if (r < 0 || r > kMaxDecomposition) {  // cannot happen for valid code points
      buf->push_back(static_cast<utf8proc_int32_t>(cp));
      continue;
    }
    buf->insert(buf->end(), tmp, tmp + r);
  }
  auto ccc = [](utf8proc_int32_t c) { return utf8proc_get_property(c)->combining_class; };
  for (size_t i = 0; i < buf->size();) {
    if (ccc((*buf)[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i + 1;
    while (j < buf->size() && ccc((*buf)[j]) != 0) ++j;
    if (j - i > 1) {
      std::stable_sort(buf->begin() + static_cast<std::ptrdiff_t>(i),
                       buf->begin() + static_cast<std::ptrdiff_t>(j),
                       [&](utf8proc_int32_t a, utf8proc_int32_t b) { return ccc(a) < ccc(b); });
    }
    i = j;
  }
  utf8proc_ssize_t composed =
      utf8proc_normalize_utf32(buf->data(), static_cast<utf8proc_ssize_t>(buf->size()), kOptions);
  if (composed >= 0) buf->resize(static_cast<size_t>(composed));
}

inline void AppendUtf8(char32_t cp, std::string* out) {
  utf8proc_uint8_t tmp[4];
  utf8proc_ssize_t n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), tmp);
  out->append(reinterpret_cast<const char*>(tmp), static_cast<size_t>(n));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Normalize

absl::StatusOr<NormalizedText> Normalize(std::string_view input, const NormalizeOptions& options) {
  NormalizedText result;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  size_t n = input.size();

  // Length cap, counted in code points (lead bytes) before any other work.
  if (options.max_chars > 0 && n > options.max_chars) {
    size_t chars = 0, i = 0;
    for (; i < n; ++i) {
      if ((data[i] & 0xC0) != 0x80 && ++chars > options.max_chars) break;
    }
    if (i < n) {
      if (options.on_oversize == Oversize::kReject) {
        return absl::OutOfRangeError(
            absl::StrCat("text is longer than ", options.max_chars, " characters"));
      }
      n = i;
      result.truncated = true;
    }
  }

  result.text.reserve(n);
  OffsetMap* map = options.record_offsets ? &result.offsets : nullptr;
  Emitter emit(&result.text, map);
  std::vector<char32_t> unit;
  std::vector<utf8proc_int32_t> buf;
  std::string piece;

  size_t i = 0;
  while (i < n) {
    // Fast path: printable ASCII, kana, common kanji and CJK punctuation are already NFKC and
    // never attach to what precedes them. Copy a whole run of them; only its last character
    // might take a combining mark that follows (possibly after removed characters).
    size_t j = i, last = i;
    char32_t last_cp = 0;
    while (j < n) {
      unsigned char c = data[j];
      if (c >= 0x21 && c <= 0x7E) {
        last = j;
        last_cp = c;
        ++j;
        continue;
      }
      // A single space between ASCII words stays inside the run (it is already folded).
      if (c == ' ' && j > i && j + 1 < n && data[j + 1] >= 0x21 && data[j + 1] <= 0x7E) {
        ++j;
        continue;
      }
      if (c >= 0xE3 && c <= 0xE9 && j + 2 < n && (data[j + 1] & 0xC0) == 0x80 &&
          (data[j + 2] & 0xC0) == 0x80) {
        char32_t cp3 = (char32_t{c & 0x0Fu} << 12) | (char32_t{data[j + 1] & 0x3Fu} << 6) |
                       (data[j + 2] & 0x3Fu);
        if (IsStableJapanese(cp3)) {
          last = j;
          last_cp = cp3;
          j += 3;
          continue;
        }
      }
      break;
    }
    if (j > i) {
      bool space_next = j == n || data[j] == ' ' || (data[j] >= '\t' && data[j] <= '\r');
      if (!space_next) {
        size_t at = 0;
        char32_t follower = 0;
        int follower_len = 0;
        if (PeekKept(data, n, j, &at, &follower, &follower_len) && Joins(last_cp, follower)) {
          j = last;
        }
      }
      if (j > i) {
        emit.Bytes(input.data() + i, j - i, i, j, true);
        i = j;
        continue;
      }
    }

    // Full-width ASCII (U+FF01..U+FF5E, EF BC 81..EF BD 9E) folds to ASCII one for one, unless
    // what follows could attach to it: only printable ASCII, whitespace, another full-width
    // ASCII character or the end are taken here (the general path below handles the rest).
    if (char32_t wide = FullwidthAsciiAt(data, n, i); wide != 0) {
      const size_t next = i + 3;
      if (next == n || (data[next] >= 0x20 && data[next] <= 0x7E) ||
          (data[next] >= '\t' && data[next] <= '\r') || FullwidthAsciiAt(data, n, next) != 0) {
        char c = static_cast<char>(wide - 0xFEE0);
        emit.Bytes(&c, 1, i, next, false);
        i = next;
        continue;
      }
    }

    char32_t cp;
    int len = DecodeUtf8(data + i, n - i, &cp);
    if (len == 0) {
      if (options.invalid_utf8 == InvalidUtf8::kReject) {
        return absl::InvalidArgumentError(
            absl::StrCat("text is not valid UTF-8 (byte offset ", i, ")"));
      }
      piece.clear();
      AppendUtf8(kReplacement, &piece);
      emit.Bytes(piece.data(), piece.size(), i, i + 1, false);
      i += 1;
      continue;
    }
    size_t next = i + static_cast<size_t>(len);
    CpClass cls = Classify(cp);
    if (cls == CpClass::kRemove) {
      i = next;
      continue;
    }
    if (cls == CpClass::kSpace) {
      emit.Space(i, next, cp == ' ');
      i = next;
      continue;
    }

    // Gather the composition unit: this character and what attaches to it.
    size_t at = 0;
    char32_t follower = 0;
    int follower_len = 0;
    bool has_follower = PeekKept(data, n, next, &at, &follower, &follower_len);
    if (!has_follower || !Joins(cp, follower)) {
      if (cp < 0x80 || IsStableJapanese(cp)) {
        emit.Bytes(input.data() + i, next - i, i, next, true);
        i = next;
        continue;
      }
      if (IsFullwidthAscii(cp)) {
        char c = static_cast<char>(cp - 0xFEE0);
        emit.Bytes(&c, 1, i, next, false);
        i = next;
        continue;
      }
    }
    unit.clear();
    unit.push_back(cp);
    size_t unit_end = next;
    while (has_follower && Joins(unit.back(), follower)) {
      unit.push_back(follower);
      unit_end = at + static_cast<size_t>(follower_len);
      has_follower = PeekKept(data, n, unit_end, &at, &follower, &follower_len);
    }

    NormalizeUnit(unit, &buf);
    // Emit the unit's output; whitespace that NFKC produced (e.g. U+309B → " ゙") is folded too.
    piece.clear();
    bool clean = true;  // no removed or whitespace characters in the output
    for (utf8proc_int32_t c : buf) {
      char32_t out_cp = static_cast<char32_t>(c);
      CpClass out_cls = Classify(out_cp);
      if (out_cls == CpClass::kKeep) {
        AppendUtf8(out_cp, &piece);
        continue;
      }
      clean = false;
      if (out_cls == CpClass::kSpace) {
        emit.Bytes(piece.data(), piece.size(), i, unit_end, false);
        piece.clear();
        emit.Space(i, unit_end, false);
      }
    }
    bool exact = clean && std::string_view(piece) == input.substr(i, unit_end - i);
    emit.Bytes(piece.data(), piece.size(), i, unit_end, exact);
    i = unit_end;
  }
  return result;
}

}  // namespace mangaassist::core
