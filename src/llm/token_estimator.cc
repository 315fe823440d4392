#include "llm/token_estimator.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "core/normalize.h"
#include "core/yaml.h"
#include "yaml-cpp/yaml.h"

namespace mangaassist::llm {
namespace {

// ---------------------------------------------------------------------------------------------
// Counting. scripts/calibrate-tokens.mjs has a port of this (scriptCounts); the two must agree,
// which TokenEstimatorTest.ReproducesTheCalibrationScript checks text by text. ASCII, the bulk of
// most prompts, goes through table lookups and arithmetic, without branches on the text.

enum CharClass : uint8_t { kLetter, kDigit, kSpace, kPunct, kNonAscii };

constexpr std::array<uint8_t, 128> MakeAsciiClasses() {
  std::array<uint8_t, 128> t{};
  for (int c = 0; c < 128; ++c) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) {
      t[c] = kLetter;
    } else if (c >= '0' && c <= '9') {
      t[c] = kDigit;
    } else if (c == ' ') {
      t[c] = kSpace;
    } else {
      t[c] = kPunct;  // punctuation, symbols, line breaks, tabs, controls
    }
  }
  return t;
}
constexpr std::array<uint8_t, 128> kAsciiClass = MakeAsciiClasses();

// What one ASCII byte adds, by the class of the byte before it: six counters packed in 10-bit
// lanes of one word (letters, digits, spaces, punct, word starts, number starts), so the loop
// keeps one register for all of them and flushes it after every chunk of at most 2^10 - 1 bytes
// (kChunkBytes, plus up to three bytes so as not to cut a UTF-8 sequence). Bit 63 flags "this
// byte ends a word"; it is never read back from the sum (it only wraps).
constexpr int kLaneBits = 10;
constexpr size_t kChunkBytes = (size_t{1} << kLaneBits) - 4;
enum Lane : int { kLettersLane, kDigitsLane, kSpacesLane, kPunctLane, kWordsLane, kNumbersLane };
constexpr uint64_t kEndsWord = uint64_t{1} << 63;

constexpr uint64_t LaneOne(Lane lane) { return uint64_t{1} << (kLaneBits * lane); }

constexpr std::array<uint64_t, size_t{5} * 128> MakeIncrements() {
  std::array<uint64_t, size_t{5} * 128> t{};
  for (size_t prev = 0; prev < 5; ++prev) {
    for (size_t c = 0; c < 128; ++c) {
      const uint8_t cls = kAsciiClass[c];
      uint64_t inc = LaneOne(static_cast<Lane>(cls));  // the class lanes are in class order
      if (cls == kLetter && prev != kLetter) inc += LaneOne(kWordsLane);
      if (cls == kDigit && prev != kDigit) inc += LaneOne(kNumbersLane);
      if (cls != kLetter && prev == kLetter) inc |= kEndsWord;
      t[prev * 128 + c] = inc;
    }
  }
  return t;
}
constexpr std::array<uint64_t, size_t{5}* 128> kIncrements = MakeIncrements();
static_assert(kLetter == 0 && kDigit == 1 && kSpace == 2 && kPunct == 3 && kNonAscii == 4);

// Romaji shape (Shingekinokyojin, Eiichiro, Kimetsu): a word of at least kRomajiMinLetters
// letters that reads as Hepburn syllables. Such words split into pieces of 2-3 letters, while an
// English word of the same length is often a single token. The rule: only the vowels aeiou and
// the consonants below; at most three consonants between vowels; a lone consonant before a vowel
// is not 'c'; two are a valid pair (see ValidPair); three are n or a doubled consonant followed by
// a valid pair (nch, ssh); the word ends on a vowel or a syllabic n. (English words such as
// "banana" pass too; the fit absorbs that.) Run as a DFA over the letters of a word.
constexpr int64_t kRomajiMinLetters = 6;
constexpr char kConsonants[] = "bcdfghjkmnprstwyz";
constexpr int kConsonantCount = sizeof(kConsonants) - 1;

constexpr bool IsVowel(char c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }

constexpr int ConsonantIndex(char c) {
  for (int i = 0; i < kConsonantCount; ++i) {
    if (kConsonants[i] == c) return i;
  }
  return -1;
}

// Two consonants in a row: doubled (kk, tt), palatal (ky, ny), sh/ch, ts, or a syllabic n before
// any consonant (kenjuu).
constexpr bool ValidPair(char a, char b) {
  return a == b || b == 'y' || (b == 'h' && (a == 's' || a == 'c')) || (a == 't' && b == 's') ||
         a == 'n';
}

// States: after a vowel or at the start; failed; one consonant pending (which one); two pending
// (the second, and whether a third may follow: the first was n or the same letter); three pending.
// A run of two that is not a valid pair can never become valid, so it fails at once.
constexpr uint8_t kAfterVowel = 0;
constexpr uint8_t kFailed = 1;
constexpr uint8_t OneConsonant(int i) { return static_cast<uint8_t>(2 + i); }
constexpr uint8_t TwoConsonants(int i, bool third_ok) {
  return static_cast<uint8_t>(2 + kConsonantCount + 2 * i + (third_ok ? 1 : 0));
}
constexpr uint8_t kThreeConsonants = 2 + 3 * kConsonantCount;
constexpr size_t kRomajiStates = size_t{kThreeConsonants} + 1;

constexpr uint8_t RomajiNext(uint8_t state, char c) {
  if (state == kFailed) return kFailed;
  if (IsVowel(c)) return state == OneConsonant(ConsonantIndex('c')) ? kFailed : kAfterVowel;
  const int ci = ConsonantIndex(c);
  if (ci < 0 || state == kThreeConsonants) return kFailed;  // l q v x, or a fourth consonant
  if (state == kAfterVowel) return OneConsonant(ci);
  if (state < TwoConsonants(0, false)) {
    const char a = kConsonants[state - OneConsonant(0)];
    return ValidPair(a, c) ? TwoConsonants(ci, a == 'n' || a == c) : kFailed;
  }
  const int offset = state - TwoConsonants(0, false);
  const char b = kConsonants[offset / 2];
  return (offset % 2 == 1 && ValidPair(b, c)) ? kThreeConsonants : kFailed;
}

// The DFA as one table over ASCII bytes, so a step is a single load: next[state + byte], where
// states are stored pre-multiplied by 128 and every byte that is not a letter leads back to the
// start (ending the word). accept[state / 128]: the word may end in that state.
struct RomajiDfa {
  std::array<uint16_t, kRomajiStates * 128> next{};
  std::array<uint8_t, kRomajiStates> accept{};
};

constexpr RomajiDfa MakeRomajiDfa() {
  RomajiDfa d;
  for (size_t s = 0; s < kRomajiStates; ++s) {
    for (size_t c = 0; c < 128; ++c) {
      const bool upper = c >= 'A' && c <= 'Z', lower = c >= 'a' && c <= 'z';
      const uint8_t to = upper || lower
                             ? RomajiNext(static_cast<uint8_t>(s), static_cast<char>(c | 0x20))
                             : kAfterVowel;
      d.next[s * 128 + c] = static_cast<uint16_t>(to * 128);
    }
    d.accept[s] = s == kAfterVowel || s == OneConsonant(ConsonantIndex('n'));
  }
  return d;
}
constexpr RomajiDfa kRomaji = MakeRomajiDfa();
static_assert(kAfterVowel == 0, "a non-letter's transition doubles as the reset");

// The counting state carried from one chunk of text to the next.
struct CountState {
  ScriptCounts n;             // complete but for the lanes of the current chunk and `romaji`
  uint64_t romaji = 0;        // letters of accepted romaji-shaped words so far
  uint64_t word_letters = 0;  // letters of the current word so far
  uint32_t state = 0;         // romaji DFA state (pre-multiplied), kAfterVowel outside words
  uint32_t prev = kSpace;     // class of the previous character
};

void EndWord(CountState* s) {
  if (s->word_letters >= kRomajiMinLetters && kRomaji.accept[s->state >> 7]) {
    s->romaji += s->word_letters;
  }
  s->word_letters = 0;
  s->state = 0;
}

void CountNonAscii(char32_t cp, CountState* s) {
  EndWord(s);
  s->prev = kNonAscii;
  if (cp >= 0x3041 && cp <= 0x309F) {
    ++s->n.hiragana;
  } else if ((cp >= 0x30A0 && cp <= 0x30FF) || (cp >= 0x31F0 && cp <= 0x31FF) ||
             (cp >= 0xFF66 && cp <= 0xFF9F)) {
    ++s->n.katakana;
  } else if (core::IsJapaneseCodepoint(cp)) {
    ++s->n.kanji;
  } else {
    ++s->n.other;  // including invalid bytes, passed as 0xFFFFFFFF
  }
}

// Counts [p, stop), which must not end inside a valid UTF-8 sequence and must hold at most
// kChunkBytes + 3 bytes, so that no lane overflows. The hot state lives in locals, so that
// the compiler keeps it in registers: an ASCII byte costs a few table loads and arithmetic, with
// no branch that depends on the text beyond "is it ASCII".
void CountChunk(const unsigned char* p, const unsigned char* const stop, CountState* s) {
  uint64_t packed = 0;
  uint64_t romaji = s->romaji;
  uint64_t word_letters = s->word_letters;
  uint32_t state = s->state;
  uint32_t prev = s->prev;
  while (p < stop) {
    uint32_t c = *p;
    if (c >= 0x80) {
      char32_t cp = 0;
      const int len = core::DecodeUtf8(p, static_cast<size_t>(stop - p), &cp);
      p += len > 0 ? len : 1;
      if (len > 0 && cp >= 0xFF01 && cp <= 0xFF5E) {
        c = cp - 0xFEE0;  // full-width ASCII, as NFKC folds it
      } else if (len > 0 && cp == 0x3000) {
        c = ' ';  // ideographic space
      } else {
        // Any other code point. An invalid byte counts as `other`: byte-level BPE spends
        // about a token on it.
        s->romaji = romaji;
        s->word_letters = word_letters;
        s->state = state;
        CountNonAscii(len > 0 ? cp : 0xFFFFFFFF, s);
        romaji = s->romaji;
        word_letters = 0;
        state = 0;
        prev = kNonAscii;
        continue;
      }
    } else {
      ++p;
    }
    const uint64_t inc = kIncrements[prev * 128 + c];
    packed += inc;
    // A non-letter after a letter ends the word, judged with the state before this byte's step.
    const uint64_t take = (inc >> 63) & static_cast<uint64_t>(word_letters >= kRomajiMinLetters) &
                          kRomaji.accept[state >> 7];
    romaji += word_letters & (0 - take);
    prev = kAsciiClass[c];
    word_letters = (word_letters + 1) & (0 - static_cast<uint64_t>(prev == kLetter));
    state = kRomaji.next[state + c];
  }
  auto lane = [&](Lane l) {
    return static_cast<int64_t>((packed >> (kLaneBits * l)) & ((uint64_t{1} << kLaneBits) - 1));
  };
  s->n.latin_letters += lane(kLettersLane);
  s->n.digits += lane(kDigitsLane);
  s->n.spaces += lane(kSpacesLane);
  s->n.punct += lane(kPunctLane);
  s->n.latin_words += lane(kWordsLane);
  s->n.numbers += lane(kNumbersLane);
  s->romaji = romaji;
  s->word_letters = word_letters;
  s->state = state;
  s->prev = prev;
}

// ---------------------------------------------------------------------------------------------
// Loading.

absl::Status Bad(const std::string& source, const YAML::Node& n, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ":", n.Mark().line + 1, ": ", what));
}

absl::StatusOr<double> ReadNumber(const std::string& source, const YAML::Node& n,
                                  const std::string& key) {
  double v = 0;
  if (!n.IsScalar() || !YAML::convert<double>::decode(n, v) || !std::isfinite(v)) {
    return Bad(source, n, absl::StrCat(key, ": must be a number"));
  }
  if (v < 0) return Bad(source, n, absl::StrCat(key, ": must not be negative"));
  return v;
}

struct UnitField {
  const char* key;
  double TokenCalibration::*field;
};
constexpr UnitField kUnitFields[] = {
    {"latin_word", &TokenCalibration::latin_word},
    {"latin_letter", &TokenCalibration::latin_letter},
    {"romaji_letter", &TokenCalibration::romaji_letter},
    {"digit", &TokenCalibration::digit},
    {"number", &TokenCalibration::number},
    {"space", &TokenCalibration::space},
    {"punct", &TokenCalibration::punct},
    {"hiragana", &TokenCalibration::hiragana},
    {"katakana", &TokenCalibration::katakana},
    {"kanji", &TokenCalibration::kanji},
    {"other", &TokenCalibration::other},
};

}  // namespace

ScriptCounts CountScripts(std::string_view text) {
  CountState s;
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* const end = p + text.size();
  while (p < end) {
    const auto* stop = p + std::min(kChunkBytes, static_cast<size_t>(end - p));
    // Never cut a sequence: a lead byte has at most three continuation bytes.
    for (int i = 0; i < 3 && stop < end && (*stop & 0xC0) == 0x80; ++i) ++stop;
    CountChunk(p, stop, &s);
    p = stop;
  }
  EndWord(&s);
  s.n.romaji_letters = static_cast<int64_t>(s.romaji);
  return s.n;
}

TokenCalibration TokenCalibration::Default() {
  // Fitted by scripts/calibrate-tokens.mjs (2026-11-27, @anthropic-ai/tokenizer 0.0.4, q=0.8);
  // equal to config/token_calibration.yaml.
  TokenCalibration c;
  c.latin_word = 0.2897;
  c.latin_letter = 0.0848;
  c.romaji_letter = 0.1704;
  c.digit = 0.2353;
  c.number = 1.3637;
  c.space = 0.5781;
  c.punct = 1.2269;
  c.hiragana = 0.8882;
  c.katakana = 1.1751;
  c.kanji = 1.5928;
  c.other = 2.1259;
  c.per_message = 4;
  c.per_request = 4;
  c.headroom = 1.118;
  c.correction_alpha = 0.05;
  c.reference = "@anthropic-ai/tokenizer 0.0.4";
  return c;
}

double TokenCalibration::Linear(const ScriptCounts& n) const {
  // The order of the script's FEATURES list, so both sum (and round) identically.
  double s = 0;
  s += latin_word * static_cast<double>(n.latin_words);
  s += latin_letter * static_cast<double>(n.latin_letters);
  s += romaji_letter * static_cast<double>(n.romaji_letters);
  s += digit * static_cast<double>(n.digits);
  s += number * static_cast<double>(n.numbers);
  s += space * static_cast<double>(n.spaces);
  s += punct * static_cast<double>(n.punct);
  s += hiragana * static_cast<double>(n.hiragana);
  s += katakana * static_cast<double>(n.katakana);
  s += kanji * static_cast<double>(n.kanji);
  s += other * static_cast<double>(n.other);
  return s;
}

absl::StatusOr<TokenCalibration> LoadTokenCalibration(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open token calibration ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseTokenCalibration(ss.str(), path);
}

absl::StatusOr<TokenCalibration> ParseTokenCalibration(const std::string& yaml,
                                                       const std::string& source) {
  absl::StatusOr<YAML::Node> parsed = core::ParseYaml(yaml, source);
  if (!parsed.ok()) return parsed.status();
  YAML::Node root = *std::move(parsed);
  if (!root.IsMap()) return absl::InvalidArgumentError(absl::StrCat(source, ": not a mapping"));
  TokenCalibration c;
  c.reference = root["reference"] && root["reference"].IsScalar() ? root["reference"].Scalar() : "";

  const YAML::Node units = root["per_unit"];
  if (!units.IsMap()) return Bad(source, root, "'per_unit' must map counted units to tokens");
  for (const auto& kv : units) {
    const std::string key = kv.first.Scalar();
    const auto* f = std::find_if(std::begin(kUnitFields), std::end(kUnitFields),
                                 [&](const UnitField& u) { return key == u.key; });
    if (f == std::end(kUnitFields)) {
      return Bad(source, kv.first, absl::StrCat("per_unit.", key, ": unknown unit"));
    }
  }
  for (const UnitField& u : kUnitFields) {
    if (!units[u.key]) return Bad(source, units, absl::StrCat("per_unit: missing '", u.key, "'"));
    auto v = ReadNumber(source, units[u.key], absl::StrCat("per_unit.", u.key));
    if (!v.ok()) return v.status();
    c.*u.field = *v;
  }

  const YAML::Node framing = root["framing"];
  if (!framing.IsMap()) return Bad(source, root, "'framing' must give per_message and per_request");
  for (auto [key, field] : {std::pair{"per_message", &TokenCalibration::per_message},
                            std::pair{"per_request", &TokenCalibration::per_request}}) {
    if (!framing[key]) return Bad(source, framing, absl::StrCat("framing: missing '", key, "'"));
    auto v = ReadNumber(source, framing[key], absl::StrCat("framing.", key));
    if (!v.ok()) return v.status();
    c.*field = *v;
  }

  if (const YAML::Node h = root["headroom"]) {
    auto v = ReadNumber(source, h, "headroom");
    if (!v.ok()) return v.status();
    if (*v < 1) return Bad(source, h, "headroom: must be at least 1");
    c.headroom = *v;
  }
  if (const YAML::Node a = root["correction_alpha"]) {
    auto v = ReadNumber(source, a, "correction_alpha");
    if (!v.ok()) return v.status();
    if (*v <= 0 || *v > 1) return Bad(source, a, "correction_alpha: must be in (0, 1]");
    c.correction_alpha = *v;
  }
  return c;
}

TokenEstimator::TokenEstimator(TokenCalibration calibration)
    : calibration_(std::move(calibration)) {
  for (auto& c : correction_) c.store(1.0, std::memory_order_relaxed);
}

int64_t TokenEstimator::Round(double tokens) {
  // The slack keeps a sum that lands a rounding error above an integer from costing one more
  // token (the calibration script rounds the same way).
  constexpr double kRoundingSlack = 1e-9;
  return static_cast<int64_t>(std::ceil(tokens - kRoundingSlack));
}

int64_t TokenEstimator::Estimate(std::string_view text) const {
  if (text.empty()) return 0;
  return std::max<int64_t>(1, Round(calibration_.Linear(CountScripts(text))));
}

int64_t TokenEstimator::Estimate(std::string_view text, core::Lang lang) const {
  if (text.empty()) return 0;
  return std::max<int64_t>(1, Round(calibration_.Linear(CountScripts(text)) * correction(lang)));
}

double TokenEstimator::PromptLinear(const LlmRequest& request) const {
  double tokens = calibration_.per_request;
  if (!request.system.empty()) {
    // The system prompt is nearly always the configured one: count it once per thread.
    thread_local std::string last_system;
    thread_local ScriptCounts last_counts;
    if (request.system != last_system) {
      last_counts = CountScripts(request.system);
      last_system.assign(request.system);
    }
    tokens += calibration_.Linear(last_counts);
  }
  for (const Message& m : request.messages) {
    tokens += calibration_.per_message + calibration_.Linear(CountScripts(m.content));
  }
  return tokens;
}

int64_t TokenEstimator::EstimatePrompt(const LlmRequest& request) const {
  return Round(PromptLinear(request));
}

int64_t TokenEstimator::EstimatePrompt(const LlmRequest& request, core::Lang lang) const {
  return Round(PromptLinear(request) * correction(lang));
}

double TokenEstimator::correction(core::Lang lang) const {
  return correction_[static_cast<size_t>(lang)].load(std::memory_order_relaxed);
}

void TokenEstimator::Observe(core::Lang lang, int64_t estimated, int64_t reported) {
  if (estimated <= 0 || reported <= 0) return;
  const double alpha = calibration_.correction_alpha;
  const double evidence =
      calibration_.headroom * static_cast<double>(reported) / static_cast<double>(estimated);
  std::atomic<double>& slot = correction_[static_cast<size_t>(lang)];
  double current = slot.load(std::memory_order_relaxed);
  double next;
  do {
    const double implied = std::clamp(current * evidence, kMinCorrection, kMaxCorrection);
    next = std::clamp(std::exp((1 - alpha) * std::log(current) + alpha * std::log(implied)),
                      kMinCorrection, kMaxCorrection);
  } while (!slot.compare_exchange_weak(current, next, std::memory_order_relaxed));
}

}  // namespace mangaassist::llm
