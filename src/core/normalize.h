// Normalization of untrusted text at the gateway boundary (SPEC §2, stage 2): strict UTF-8,
// NFKC (utf8proc; full-width digits and letters become ASCII), removal of control and format
// characters (bidi overrides, zero-width characters, BOM, soft hyphen), whitespace folding, and a
// length cap. Optionally records an OffsetMap from the normalized bytes back to the input bytes, so
// findings on the normalized text can be reported against what the client sent.
// Pure functions; thread-safe. Time and memory are linear in the input (see Normalize()).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace mangaassist::core {

// Maps byte ranges of a derived text (the output) back to the text it was derived from (the
// input). The output is covered by segments without gaps; input bytes that produced no output
// (removed characters) fall between segments.
class OffsetMap {
 public:
  struct Segment {
    size_t out_begin = 0, out_end = 0;
    size_t in_begin = 0, in_end = 0;
    bool exact = false;  // the output bytes are a verbatim copy of the input bytes
  };

  // Appends the next piece of output. Pieces must arrive in output order without gaps; an exact
  // piece that continues the previous exact one in both texts is merged into it.
  void Add(size_t out_begin, size_t out_end, size_t in_begin, size_t in_end, bool exact);

  // The smallest input range that produced output bytes [begin, end). Inside exact segments the
  // mapping is byte-precise; a range that starts or ends inside a rewritten piece widens to the
  // whole piece. REQUIRES: begin <= end <= the end of the last segment.
  std::pair<size_t, size_t> MapRange(size_t begin, size_t end) const;

  const std::vector<Segment>& segments() const { return segments_; }
  bool empty() const { return segments_.empty(); }
  void Clear() { segments_.clear(); }

 private:
  // The segment containing output byte `pos` (the last one when pos is past the end).
  const Segment& Find(size_t pos) const;

  std::vector<Segment> segments_;
};

enum class InvalidUtf8 {
  kReject,   // InvalidArgument (the API answers 400)
  kReplace,  // each invalid byte becomes U+FFFD (offline tools, fuzzing)
};

enum class Oversize {
  kReject,    // OutOfRange (the API answers 413)
  kTruncate,  // keep the first max_chars characters
};

struct NormalizeOptions {
  size_t max_chars = 0;  // cap on input code points; 0 = no cap
  Oversize on_oversize = Oversize::kReject;
  InvalidUtf8 invalid_utf8 = InvalidUtf8::kReject;
  bool record_offsets = false;  // fill NormalizedText::offsets
};

struct NormalizedText {
  std::string text;
  OffsetMap offsets;       // output → input bytes; empty unless options.record_offsets
  bool truncated = false;  // the input was cut to options.max_chars code points
};

// Normalizes `input`:
//   1. UTF-8 is decoded strictly (no overlongs, surrogates or values above U+10FFFF);
//   2. C0/C1 controls other than whitespace, every format character (Unicode category Cf:
//      U+200B–U+200F, U+202A–U+202E, U+2060–U+2064, U+2066–U+2069, U+FEFF, U+00AD, tags …) and
//      noncharacters are removed; an emoji ZWJ sequence therefore falls apart into its emoji;
//   3. the rest is put in NFKC, one composition unit at a time (a starter and the combining
//      characters, voiced-sound marks or Hangul jamo that attach to it);
//      so `０９０－１２３４` becomes `090-1234`, `ｶﾞ` becomes `ガ`, while `ー` (U+30FC) stays;
//   4. every run of whitespace (Zs, Zl, Zp, tab, CR, LF, VT, FF, NEL; also what NFKC turns into
//      a space) becomes one ASCII space, and leading and trailing whitespace is dropped.
// Errors: InvalidArgument for invalid UTF-8 (kReject), OutOfRange when the input has more than
// max_chars code points (kReject). Time is linear in the input (O(k log k) for a run of k
// combining marks after one base character); the output is at most 18 times
// the input in code points (the NFKC expansion bound), usually the same size or smaller.
absl::StatusOr<NormalizedText> Normalize(std::string_view input,
                                         const NormalizeOptions& options = {});

// Decodes one UTF-8 sequence strictly. Returns its length (1–4) and sets *cp, or returns 0 when
// the bytes at `p` are not a valid sequence. REQUIRES: left > 0.
int DecodeUtf8(const unsigned char* p, size_t left, char32_t* cp);

}  // namespace mangaassist::core
