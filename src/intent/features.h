// Feature extraction of the intent classifier (US-02): hashed word and character n-grams in the
// fastText style. Latin-script text gives word unigrams, word bigrams and character trigrams of
// each word (typo tolerance); Japanese, which has no spaces, gives character unigrams, bigrams
// and trigrams over each run. Digits collapse to one shape symbol ("vol 105" ≈ "vol 7"), ASCII is
// lower-cased. Features are XXH3 hashes folded into 2^bucket_bits buckets.
//
// Bounded work on any input: at most `max_codepoints` code points are read and at most
// `max_features` features are produced, so an empty, emoji-only or 50,000-character message
// costs the same bounded time. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace mangaassist::intent {

struct FeatureOptions {
  int bucket_bits = 18;          // 2^18 hashed buckets
  size_t max_codepoints = 1024;  // of the message considered (the rest is ignored)
  size_t max_features = 512;     // features produced at most
  int word_char_max = 3;         // character n-grams of Latin words, 3..word_char_max (0: none)
  int ja_max_n = 3;              // Japanese character n-grams, 1..ja_max_n
  bool word_bigrams = true;
  bool ja_script_words = true;  // katakana and kanji runs as whole-word features
};

struct FeatureStats {
  size_t codepoints_read = 0;  // ≤ options.max_codepoints
  size_t features = 0;         // ≤ options.max_features
  bool truncated = false;      // the text or the feature list was cut at a cap
};

// Replaces `out` with the bucket ids of `text`'s features (duplicates kept: a repeated n-gram
// counts twice). Invalid UTF-8 bytes are skipped.
FeatureStats ExtractFeatures(std::string_view text, const FeatureOptions& options,
                             std::vector<uint32_t>* out);

}  // namespace mangaassist::intent
