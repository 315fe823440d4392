#include "replay/generator.h"

#include <algorithm>
#include <queue>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/strings.h"
#include "llm/simulated/answer_lengths.h"
#include "replay/phrasebook.h"
#include "replay/rng.h"
#include "yaml-cpp/yaml.h"

namespace mangaassist::replay {

namespace {

constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kDayMs = 86'400'000;
constexpr int64_t kJstOffsetMs = 9 * 3'600'000;

int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// "YYYY-MM-DD" → days since 1970-01-01; false when malformed.
bool ParseDate(const std::string& s, int64_t* days) {
  int y = 0, m = 0, d = 0;
  char tail = 0;
  if (s.size() != 10 || std::sscanf(s.c_str(), "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3) {
    return false;
  }
  if (m < 1 || m > 12 || d < 1 || d > 31) return false;
  *days = DaysFromCivil(y, m, d);
  return true;
}

// Decodes one UTF-8 code point at s[i] (advancing i); U+FFFD for a bad byte.
char32_t NextCodePoint(std::string_view s, size_t* i) {
  const auto c = static_cast<unsigned char>(s[*i]);
  int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (len == 0 || *i + len > s.size()) {
    ++*i;
    return 0xFFFD;
  }
  char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
  for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[*i + k]) & 0x3F);
  *i += len;
  return cp;
}

bool IsJapaneseScript(char32_t cp) {
  return (cp >= 0x3040 && cp <= 0x30FF) ||  // hiragana, katakana
         (cp >= 0x3400 && cp <= 0x4DBF) ||  // CJK extension A
         (cp >= 0x4E00 && cp <= 0x9FFF) ||  // CJK unified ideographs
         (cp >= 0xFF66 && cp <= 0xFF9F) ||  // half-width katakana
         cp == 0x3005;                      // 々
}

bool IsAsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

// Intents of the phrasebook, in first-seen order (the 16 of LABELS.md).
const std::vector<std::string>& Intents() {
  static const auto* intents = [] {
    auto* v = new std::vector<std::string>();
    for (const PhraseKind& k : Phrasebook()) {
      if (std::find(v->begin(), v->end(), k.intent) == v->end()) v->emplace_back(k.intent);
    }
    return v;
  }();
  return *intents;
}

int IntentIndex(std::string_view intent) {
  const auto& v = Intents();
  auto it = std::find(v.begin(), v.end(), intent);
  return it == v.end() ? -1 : static_cast<int>(it - v.begin());
}

// --- profile loading ---------------------------------------------------------------------------

struct ProfileReader {
  std::string source;
  absl::Status status;

  void Fail(const YAML::Node& n, const std::string& key, const std::string& problem) {
    if (!status.ok()) return;
    const int line = n.IsDefined() ? n.Mark().line + 1 : 0;
    status = absl::InvalidArgumentError(
        line > 0 ? absl::StrCat(source, ":", line, ": ", key, ": ", problem)
                 : absl::StrCat(source, ": ", key, ": ", problem));
  }

  bool Int(const YAML::Node& n, const std::string& key, int64_t lo, int64_t hi, int64_t* out) {
    if (!n.IsScalar()) {
      Fail(n, key, "must be an integer");
      return false;
    }
    try {
      const int64_t v = n.as<int64_t>();
      if (v < lo || v > hi) {
        Fail(n, key, absl::StrCat(v, " is out of range [", lo, ", ", hi, "]"));
        return false;
      }
      *out = v;
      return true;
    } catch (const YAML::Exception&) {
      Fail(n, key, absl::StrCat("'", n.Scalar(), "' is not an integer"));
      return false;
    }
  }

  template <size_t N, typename T>
  void List(const YAML::Node& n, const std::string& key, int64_t lo, int64_t hi,
            std::array<T, N>* out) {
    if (!n.IsSequence() || n.size() != N)
      return Fail(n, key, absl::StrCat("must be a list of ", N));
    std::array<T, N> v{};
    uint64_t sum = 0;
    for (size_t i = 0; i < N; ++i) {
      int64_t x = 0;
      if (!Int(n[i], absl::StrCat(key, "[", i, "]"), lo, hi, &x)) return;
      v[i] = static_cast<T>(x);
      sum += static_cast<uint64_t>(x);
    }
    if (sum == 0) return Fail(n, key, "weights must not all be zero");
    *out = v;
  }

  void Weights(const YAML::Node& n, const std::string& key, const std::vector<std::string>& allowed,
               std::vector<std::pair<std::string, uint64_t>>* out) {
    if (!n.IsMap()) return Fail(n, key, "must be a mapping of name: weight");
    std::vector<std::pair<std::string, uint64_t>> v;
    uint64_t sum = 0;
    for (const auto& kv : n) {
      const std::string name = kv.first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        return Fail(kv.first, absl::StrCat(key, ".", name), "unknown name");
      }
      int64_t w = 0;
      if (!Int(kv.second, absl::StrCat(key, ".", name), 0, 1'000'000'000, &w)) return;
      v.emplace_back(name, static_cast<uint64_t>(w));
      sum += static_cast<uint64_t>(w);
    }
    if (sum == 0) return Fail(n, key, "weights must not all be zero");
    *out = std::move(v);
  }

  template <size_t N>
  void NamedWeights(const YAML::Node& n, const std::string& key,
                    const std::array<const char*, N>& names, std::array<uint64_t, N>* out) {
    std::vector<std::string> allowed(names.begin(), names.end());
    std::vector<std::pair<std::string, uint64_t>> v;
    Weights(n, key, allowed, &v);
    if (!status.ok()) return;
    std::array<uint64_t, N> a{};
    for (const auto& [name, w] : v) {
      a[std::find(allowed.begin(), allowed.end(), name) - allowed.begin()] = w;
    }
    *out = a;
  }
};

}  // namespace

core::Lang LabelLanguage(std::string_view text) {
  bool ja = false, latin_word = false;
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (IsAsciiAlpha(c) || IsAsciiDigit(c)) {
      // A token: a run of ASCII letters, digits and inner hyphens ("MA-2025-004512").
      size_t j = i, letters = 0;
      bool digit = false;
      while (j < text.size() && (IsAsciiAlpha(text[j]) || IsAsciiDigit(text[j]) ||
                                 (text[j] == '-' && j + 1 < text.size() &&
                                  (IsAsciiAlpha(text[j + 1]) || IsAsciiDigit(text[j + 1]))))) {
        if (IsAsciiAlpha(text[j])) ++letters;
        if (IsAsciiDigit(text[j])) digit = true;
        ++j;
      }
      if (!digit && letters >= 2) latin_word = true;
      i = j;
      continue;
    }
    if (IsJapaneseScript(NextCodePoint(text, &i))) ja = true;
  }
  if (!ja) return core::Lang::kEn;
  return latin_word ? core::Lang::kMixed : core::Lang::kJa;
}

GeneratorProfile DefaultGeneratorProfile() {
  GeneratorProfile p;
  p.intent_mix = {{"product_search", 160},
                  {"product_info", 110},
                  {"order_status", 110},
                  {"release_schedule", 90},
                  {"recommendation", 90},
                  {"shipping_info", 60},
                  {"greeting", 50},
                  {"payment", 50},
                  {"order_change", 45},
                  {"promotions", 45},
                  {"farewell_thanks", 45},
                  {"returns_refunds", 40},
                  {"account", 35},
                  {"chitchat", 30},
                  {"complaint_escalation", 20},
                  {"other", 20}};
  p.release_intent_mix = {{"release_schedule", 450},
                          {"product_search", 350},
                          {"order_status", 100},
                          {"order_change", 100}};
  p.lang_mix = {450, 400, 150};
  p.tier_mix = {500, 400, 100};
  p.turns = {30, 22, 16, 11, 8, 6, 4, 3};
  p.diurnal_jst = {40, 28, 18, 12, 9,  8,  10, 16, 26, 34,  40, 46,
                   55, 50, 46, 46, 50, 58, 70, 84, 96, 100, 92, 68};
  p.weekday = {100, 98, 100, 102, 110, 125, 120};
  p.think_ms = {4'000, 10'000, 20'000, 40'000, 90'000, 300'000};
  return p;
}

absl::StatusOr<GeneratorProfile> LoadGeneratorProfile(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return absl::NotFoundError(absl::StrCat("cannot open trace profile ", path));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":", e.mark.line + 1, ": YAML syntax error: ", e.msg));
  }
  GeneratorProfile p = DefaultGeneratorProfile();
  if (root.IsNull()) return p;
  ProfileReader r{path, absl::OkStatus()};
  if (!root.IsMap()) r.Fail(root, "(root)", "must be a mapping");
  static const std::set<std::string> kKeys = {
      "start_date",         "intent_mix",     "release_intent_mix", "lang_mix",
      "tier_mix",           "turns",          "zipf_exponent",      "typo_permille",
      "near_miss_permille", "users_permille", "diurnal_jst",        "weekday",
      "think_ms",           "release"};
  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    if (!kKeys.count(key)) {
      r.Fail(kv.first, key, "unknown key (see config/trace-profile.yaml)");
    } else if (key == "start_date") {
      int64_t days = 0;
      if (!v.IsScalar() || !ParseDate(v.Scalar(), &days)) {
        r.Fail(v, key, "must be a date YYYY-MM-DD");
      } else {
        p.start_date = v.Scalar();
      }
    } else if (key == "intent_mix") {
      r.Weights(v, key, Intents(), &p.intent_mix);
    } else if (key == "release_intent_mix") {
      r.Weights(v, key, Intents(), &p.release_intent_mix);
    } else if (key == "lang_mix") {
      r.NamedWeights(v, key, std::array<const char*, 3>{"en", "ja", "mixed"}, &p.lang_mix);
    } else if (key == "tier_mix") {
      r.NamedWeights(v, key, std::array<const char*, 3>{"guest", "member", "premium"}, &p.tier_mix);
    } else if (key == "turns") {
      r.List(v, key, 0, 1'000'000'000, &p.turns);
    } else if (key == "zipf_exponent") {
      int64_t milli = 0;
      // A decimal with at most three places, read as an integer of thousandths.
      const std::string s = v.IsScalar() ? v.Scalar() : "";
      double d = 0;
      if (s.empty() || std::sscanf(s.c_str(), "%lf", &d) != 1 || d < 0 || d > 4) {
        r.Fail(v, key, "must be a number in [0, 4]");
      } else {
        milli = static_cast<int64_t>(d * 1000 + 0.5);
        p.zipf_exponent = static_cast<double>(milli) / 1000;
      }
    } else if (key == "typo_permille" || key == "near_miss_permille" || key == "users_permille") {
      int64_t x = 0;
      if (r.Int(v, key, key == "users_permille" ? 1 : 0, 1000, &x)) {
        (key == "typo_permille"        ? p.typo_permille
         : key == "near_miss_permille" ? p.near_miss_permille
                                       : p.users_permille) = static_cast<int>(x);
      }
    } else if (key == "diurnal_jst") {
      r.List(v, key, 0, 1'000'000, &p.diurnal_jst);
    } else if (key == "weekday") {
      r.List(v, key, 0, 1'000'000, &p.weekday);
    } else if (key == "think_ms") {
      r.List(v, key, 0, 86'400'000, &p.think_ms);
      if (r.status.ok() && !std::is_sorted(p.think_ms.begin(), p.think_ms.end())) {
        r.Fail(v, key, "quantiles must not decrease");
      }
    } else if (key == "release") {
      if (!v.IsMap()) {
        r.Fail(v, key, "must be a mapping");
        continue;
      }
      for (const auto& rk : v) {
        const std::string k = rk.first.Scalar();
        const std::string q = "release." + k;
        int64_t x = 0;
        if (k == "enabled") {
          const std::string s = rk.second.IsScalar() ? rk.second.Scalar() : "";
          if (s != "true" && s != "false") r.Fail(rk.second, q, "must be true or false");
          p.release.enabled = s == "true";
        } else if (k == "day") {
          if (r.Int(rk.second, q, 0, 3659, &x)) p.release.day = static_cast<int>(x);
        } else if (k == "hour_jst") {
          if (r.Int(rk.second, q, 0, 23, &x)) p.release.hour_jst = static_cast<int>(x);
        } else if (k == "title_rank") {
          if (r.Int(rk.second, q, 1, 1'000'000, &x)) p.release.title_rank = static_cast<int>(x);
        } else if (k == "multiplier_permille") {
          if (r.Int(rk.second, q, 1000, 1'000'000, &x)) {
            p.release.multiplier_permille = static_cast<int>(x);
          }
        } else if (k == "duration_minutes") {
          if (r.Int(rk.second, q, 1, 10'080, &x)) p.release.duration_minutes = static_cast<int>(x);
        } else {
          r.Fail(rk.first, q, "unknown key");
        }
      }
    }
  }
  if (!r.status.ok()) return r.status;
  return p;
}

// --- generation ----------------------------------------------------------------------------------

struct TraceGenerator::Impl {
  struct Title {
    const rag::CatalogEntry* entry = nullptr;
    std::string en;   // English title
    std::string ja;   // a Japanese-script name, "" when the catalog has none
    int volumes = 0;  // known count, or 0
  };
  struct Pending {
    int64_t ts = 0;
    uint64_t seq = 0;
    TraceRecord record;
    bool operator>(const Pending& o) const { return ts != o.ts ? ts > o.ts : seq > o.seq; }
  };
  struct Turn {
    const PhraseKind* kind = nullptr;
    std::string intent;
  };

  GeneratorOptions options;
  Rng rng;
  std::vector<Title> titles;  // by popularity rank
  Discrete zipf, intents, release_intents, langs, turns;
  std::vector<std::string> intent_names, release_intent_names;
  std::vector<uint64_t> tier_cumulative;
  std::vector<std::vector<const PhraseKind*>> kinds_by_intent;  // by Intents() index
  int64_t start_ms = 0;       // day 0, 00:00 Asia/Tokyo, as unix ms
  int64_t start_weekday = 0;  // 0 = Monday
  int64_t users = 0;
  uint64_t seq = 0;
  uint64_t sessions = 0;
  std::priority_queue<Pending, std::vector<Pending>, std::greater<>> pending;

  explicit Impl(GeneratorOptions o) : options(std::move(o)), rng(options.seed) {}

  absl::Status Init() {
    const GeneratorProfile& p = options.profile;
    if (options.messages < 1) return absl::InvalidArgumentError("--messages must be at least 1");
    if (options.days < 1 || options.days > 3660) {
      return absl::InvalidArgumentError("--days must be between 1 and 3660");
    }
    if (options.catalog == nullptr || options.catalog->size() == 0) {
      return absl::InvalidArgumentError("the catalog is empty");
    }
    int64_t days = 0;
    if (!ParseDate(p.start_date, &days)) {
      return absl::InvalidArgumentError("start_date must be YYYY-MM-DD");
    }
    start_ms = days * kDayMs - kJstOffsetMs;
    start_weekday = ((days + 3) % 7 + 7) % 7;  // 1970-01-01 was a Thursday

    std::vector<const rag::CatalogEntry*> entries;
    for (const rag::CatalogEntry& e : options.catalog->entries()) entries.push_back(&e);
    std::stable_sort(entries.begin(), entries.end(), [](const auto* a, const auto* b) {
      const int ra = a->popularity > 0 ? a->popularity : 1 << 30;
      const int rb = b->popularity > 0 ? b->popularity : 1 << 30;
      return ra != rb ? ra < rb : a->id < b->id;
    });
    for (const rag::CatalogEntry* e : entries) {
      Title t;
      t.entry = e;
      t.en = e->title;
      std::vector<std::string> candidates = {e->title_ja};
      candidates.insert(candidates.end(), e->aliases.begin(), e->aliases.end());
      for (const std::string& c : candidates) {
        if (!c.empty() && LabelLanguage(c) == core::Lang::kJa) {
          t.ja = c;
          break;
        }
      }
      t.volumes = e->volumes > 0 ? e->volumes : 0;
      titles.push_back(std::move(t));
    }
    zipf = Discrete(ZipfWeights(titles.size(), p.zipf_exponent));

    kinds_by_intent.resize(Intents().size());
    for (const PhraseKind& k : Phrasebook()) {
      kinds_by_intent[static_cast<size_t>(IntentIndex(k.intent))].push_back(&k);
    }
    auto mix = [](const std::vector<std::pair<std::string, uint64_t>>& m,
                  std::vector<std::string>* names, Discrete* d) -> absl::Status {
      std::vector<uint64_t> w;
      for (const auto& [name, weight] : m) {
        if (IntentIndex(name) < 0) return absl::InvalidArgumentError("unknown intent " + name);
        names->push_back(name);
        w.push_back(weight);
      }
      uint64_t sum = 0;
      for (uint64_t x : w) sum += x;
      if (sum == 0) return absl::InvalidArgumentError("an intent mix has no weight");
      *d = Discrete(w);
      return absl::OkStatus();
    };
    if (absl::Status s = mix(p.intent_mix, &intent_names, &intents); !s.ok()) return s;
    if (absl::Status s = mix(p.release_intent_mix, &release_intent_names, &release_intents);
        !s.ok()) {
      return s;
    }
    auto nonzero = [](const auto& a) {
      uint64_t s = 0;
      for (auto x : a) s += static_cast<uint64_t>(x);
      return s > 0;
    };
    if (!nonzero(p.lang_mix) || !nonzero(p.tier_mix) || !nonzero(p.turns) ||
        !nonzero(p.diurnal_jst) || !nonzero(p.weekday)) {
      return absl::InvalidArgumentError("a profile weight list is all zero");
    }
    langs = Discrete(std::vector<uint64_t>(p.lang_mix.begin(), p.lang_mix.end()));
    turns = Discrete(std::vector<uint64_t>(p.turns.begin(), p.turns.end()));
    uint64_t c = 0;
    for (uint64_t w : p.tier_mix) tier_cumulative.push_back(c += w);

    // The user pool: a share of the sessions the trace will hold.
    uint64_t turn_weight = 0, turn_sum = 0;
    for (size_t i = 0; i < p.turns.size(); ++i) {
      turn_weight += p.turns[i];
      turn_sum += p.turns[i] * (i + 1);
    }
    const int64_t expected_sessions =
        static_cast<int64_t>(static_cast<unsigned __int128>(options.messages) * turn_weight /
                             turn_sum) +
        1;
    users = std::max<int64_t>(50, expected_sessions * p.users_permille / 1000);
    return absl::OkStatus();
  }

  // Traffic weight of minute `b` of the window (diurnal x weekday x release spike).
  uint64_t MinuteWeight(int64_t b, int* spike_permille) const {
    const GeneratorProfile& p = options.profile;
    const int64_t day = b / 1440, hour = (b % 1440) / 60;
    uint64_t w = p.diurnal_jst[static_cast<size_t>(hour)] *
                 p.weekday[static_cast<size_t>((start_weekday + day) % 7)];
    *spike_permille = 1000;
    if (p.release.enabled) {
      const int64_t spike_day = std::min<int64_t>(p.release.day, options.days - 1);
      const int64_t s = spike_day * 1440 + p.release.hour_jst * 60;
      const int64_t d = p.release.duration_minutes;
      if (b >= s && b < s + d) {
        *spike_permille =
            1000 + static_cast<int>((p.release.multiplier_permille - 1000) * (s + d - b) / d);
      }
    }
    return w * static_cast<uint64_t>(*spike_permille);
  }

  core::Tier TierOfUser(int64_t user) const {
    const uint64_t h = llm::MixHash({std::to_string(user)}, options.seed ^ 0x7469657273ull);
    const uint64_t x = llm::ScaleToRange(h, tier_cumulative.back());
    size_t i = 0;
    while (x >= tier_cumulative[i]) ++i;
    return static_cast<core::Tier>(i);
  }

  std::string OrderOfUser(int64_t user) const {
    const uint64_t h = llm::MixHash({std::to_string(user)}, options.seed ^ 0x6f72646572ull);
    return absl::StrFormat("MA-2026-%06d", static_cast<int>(h % 1'000'000));
  }

  int PickVolume(const Title& t) {
    const int v = t.volumes > 0 ? t.volumes : 20;
    const uint64_t r = rng.Uniform(10);
    if (r < 5) return v;
    if (r < 7) return std::max(1, v - 1);
    return static_cast<int>(rng.Between(1, v));
  }

  // A typo in one English word of 4+ letters: two letters swapped, one dropped or doubled.
  void AddTypo(std::string* text) {
    std::vector<std::pair<size_t, size_t>> words;  // [begin, end)
    size_t i = 0;
    while (i < text->size()) {
      if (!IsAsciiAlpha((*text)[i])) {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < text->size() && IsAsciiAlpha((*text)[j])) ++j;
      const bool next_to_digit = (i > 0 && IsAsciiDigit((*text)[i - 1])) ||
                                 (j < text->size() && IsAsciiDigit((*text)[j])) ||
                                 (i > 0 && (*text)[i - 1] == '-') ||
                                 (j < text->size() && (*text)[j] == '-');
      if (j - i >= 4 && !next_to_digit) words.emplace_back(i, j);
      i = j;
    }
    if (words.empty()) return;
    const auto [b, e] = words[rng.Uniform(words.size())];
    const size_t pos = b + 1 + rng.Uniform(e - b - 2);  // an inner letter; pos + 1 < e
    switch (rng.Uniform(3)) {
      case 0:
        std::swap((*text)[pos], (*text)[pos + 1]);
        break;
      case 1:
        text->erase(pos, 1);
        break;
      default:
        text->insert(pos, 1, (*text)[pos]);
        break;
    }
  }

  std::string Fill(std::string_view tmpl, const std::string& title, int volume,
                   const std::string& order, const Genre& genre) const {
    std::string out;
    out.reserve(tmpl.size() + 32);
    for (size_t i = 0; i < tmpl.size(); ++i) {
      if (tmpl[i] == '{') {
        const size_t end = tmpl.find('}', i);
        const std::string_view slot = tmpl.substr(i + 1, end - i - 1);
        if (slot == "t")
          out += title;
        else if (slot == "v")
          out += std::to_string(volume);
        else if (slot == "o")
          out += order;
        else if (slot == "g")
          out += genre.en;
        else if (slot == "gj")
          out += genre.ja;
        i = end;
        continue;
      }
      out += tmpl[i];
    }
    return out;
  }

  const PhraseKind* KindFor(const std::string& intent, bool release_session) {
    if (release_session) {
      auto find = [](std::string_view kind) -> const PhraseKind* {
        for (const PhraseKind& k : Phrasebook()) {
          if (k.kind == kind) return &k;
        }
        return nullptr;
      };
      if (intent == "release_schedule") {
        return find(rng.Uniform(10) < 7 ? "release_date" : "preorder_open");
      }
      if (intent == "product_search") return find("stock");
      if (intent == "order_status") return find("preorder_status");
      if (intent == "order_change") return find("cancel_order");
    }
    const auto& kinds = kinds_by_intent[static_cast<size_t>(IntentIndex(intent))];
    return kinds[rng.Uniform(kinds.size())];
  }

  void StartSession(int64_t start, int turn_count, bool release_session) {
    const GeneratorProfile& p = options.profile;
    ++sessions;
    const std::string session_id = absl::StrFormat(
        "s-%016x", llm::MixHash({std::to_string(sessions)}, options.seed ^ 0x73657373ull));
    const int64_t user = static_cast<int64_t>(rng.Uniform(static_cast<uint64_t>(users)));
    const std::string user_id = absl::StrFormat("u-%07d", user);
    const core::Tier tier = TierOfUser(user);
    const auto session_lang = static_cast<core::Lang>(langs.Draw(rng));

    // The intents of the turns, i.i.d. from the mix; an opening greeting goes first and a
    // closing thanks last, as people write them.
    std::vector<std::string> turn_intents;
    for (int i = 0; i < turn_count; ++i) {
      turn_intents.push_back(release_session ? release_intent_names[release_intents.Draw(rng)]
                                             : intent_names[intents.Draw(rng)]);
    }
    std::stable_partition(turn_intents.begin(), turn_intents.end(),
                          [](const std::string& s) { return s == "greeting"; });
    std::stable_partition(turn_intents.begin(), turn_intents.end(),
                          [](const std::string& s) { return s != "farewell_thanks"; });

    // The series the session is about: the release's, or a Zipf draw (a Japanese session
    // re-draws a few times for a series with a Japanese-script name).
    auto draw_title = [&]() -> size_t {
      size_t t = zipf.Draw(rng);
      for (int k = 0; k < 8 && session_lang == core::Lang::kJa && titles[t].ja.empty(); ++k) {
        t = zipf.Draw(rng);
      }
      return t;
    };
    const size_t release_title =
        std::min<size_t>(static_cast<size_t>(p.release.title_rank - 1), titles.size() - 1);
    const int release_volume =
        (titles[release_title].volumes > 0 ? titles[release_title].volumes : 20) + 1;
    const size_t focus = release_session ? release_title : draw_title();
    int last_volume = 0;
    size_t last_volume_title = SIZE_MAX;

    int64_t ts = start;
    for (int i = 0; i < turn_count; ++i) {
      if (i > 0) {
        const size_t band = static_cast<size_t>(rng.Uniform(5));
        ts += rng.Between(p.think_ms[band], p.think_ms[band + 1]);
      }
      const std::string& intent = turn_intents[static_cast<size_t>(i)];
      const PhraseKind* kind = KindFor(intent, release_session);
      const size_t title_index = (release_session || rng.Uniform(10) < 8) ? focus : draw_title();
      const Title& title = titles[title_index];
      int volume = 0;
      if (kind->volume) {
        if (last_volume > 0 && last_volume_title == title_index &&
            rng.Permille(p.near_miss_permille)) {
          volume = rng.Uniform(2) == 0 || last_volume == 1 ? last_volume + 1 : last_volume - 1;
        } else if (release_session) {
          volume = rng.Uniform(10) < 8 ? release_volume : release_volume - 1;
        } else {
          volume = PickVolume(title);
        }
        last_volume = volume;
        last_volume_title = title_index;
      }
      const Genre& genre = PhraseGenres()[rng.Uniform(PhraseGenres().size())];
      const std::string order = OrderOfUser(user);

      core::Lang lang = session_lang;
      const std::vector<std::string_view>* phrases = lang == core::Lang::kEn   ? &kind->en
                                                     : lang == core::Lang::kJa ? &kind->ja
                                                                               : &kind->mixed;
      const std::string_view tmpl = (*phrases)[rng.Uniform(phrases->size())];
      const std::string& name = lang == core::Lang::kJa && !title.ja.empty() ? title.ja : title.en;
      std::string text = Fill(tmpl, name, volume, order, genre);
      if (lang != core::Lang::kJa && rng.Permille(p.typo_permille)) AddTypo(&text);
      lang = LabelLanguage(text);  // ground truth follows the text (LABELS.md)

      TraceRecord r;
      r.ts_ms = ts;
      r.session_id = session_id;
      r.user_id = user_id;
      r.tier = tier;
      r.message = std::move(text);
      r.intent = intent;
      r.lang = lang;
      std::string id(kind->kind);
      if (kind->title) absl::StrAppend(&id, "/", title.entry->id);
      if (kind->volume) absl::StrAppend(&id, "/v", volume);
      if (kind->order) absl::StrAppend(&id, "/", order);
      if (kind->genre) absl::StrAppend(&id, "/", core::ToAbsl(genre.en));
      if (kind->per_user) absl::StrAppend(&id, "/", user_id);
      absl::StrAppend(&id, lang == core::Lang::kEn ? "/en" : "/ja");  // the answer's language
      r.canonical_id = std::move(id);
      r.output_tokens =
          llm::DrawAnswerLength(llm::AnswerLengthsFor(intent), rng.Next(), rng.Next());
      pending.push(Pending{ts, seq++, std::move(r)});
    }
  }

  void Generate(const std::function<void(const TraceRecord&)>& emit) {
    const int64_t minutes = static_cast<int64_t>(options.days) * 1440;
    unsigned __int128 total = 0;
    int spike = 0;
    for (int64_t b = 0; b < minutes; ++b) total += MinuteWeight(b, &spike);
    auto flush_before = [&](int64_t ts) {
      while (!pending.empty() && pending.top().ts < ts) {
        emit(pending.top().record);
        pending.pop();
      }
    };
    const int64_t n = options.messages;
    int64_t created = 0;
    unsigned __int128 cumulative = 0;
    for (int64_t b = 0; b < minutes && created < n; ++b) {
      const int64_t bucket_start = start_ms + b * kMinuteMs;
      flush_before(bucket_start);
      cumulative += MinuteWeight(b, &spike);
      // Messages due by the end of this minute: the trace's share of the curve so far.
      const int64_t target = b + 1 == minutes ? n : static_cast<int64_t>(cumulative * n / total);
      while (created < target) {
        const int t = static_cast<int>(
            std::min<int64_t>(static_cast<int64_t>(turns.Draw(rng)) + 1, n - created));
        const bool release_session = spike > 1000 && rng.Uniform(static_cast<uint64_t>(spike)) <
                                                         static_cast<uint64_t>(spike - 1000);
        StartSession(bucket_start + rng.Between(0, kMinuteMs - 1), t, release_session);
        created += t;
      }
    }
    flush_before(INT64_MAX);
  }
};

TraceGenerator::TraceGenerator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TraceGenerator::~TraceGenerator() = default;

absl::StatusOr<std::unique_ptr<TraceGenerator>> TraceGenerator::Create(GeneratorOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  if (absl::Status s = impl->Init(); !s.ok()) return s;
  return std::unique_ptr<TraceGenerator>(new TraceGenerator(std::move(impl)));
}

void TraceGenerator::Generate(const std::function<void(const TraceRecord&)>& emit) {
  impl_->Generate(emit);
}

}  // namespace mangaassist::replay
