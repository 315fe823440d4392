#include "llm/extractive/extractive_responder.h"

#include <algorithm>
#include <limits>
#include <array>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "core/normalize.h"
#include "re2/re2.h"
#include "re2/set.h"
#include "yaml-cpp/yaml.h"

namespace mangaassist::llm {
namespace {

// ---------------------------------------------------------------------------------------------
// Templates: parsed once into literal / placeholder segments, so answering is a few appends.

enum Placeholder : uint8_t {
  kTitle,
  kAuthor,
  kVolumes,
  kVolume,
  kStatus,
  kGenres,
  kDemographic,
  kSynopsis,
  kStartYear,
  kEndYear,
  kWorks,
  kPromotions,
  kPromoTitle,
  kPromoText,
  kDiscount,
  kEndDate,
  kPlaceholderCount,
  kLiteral = kPlaceholderCount,
};

constexpr std::array<std::string_view, kPlaceholderCount> kPlaceholderNames = {
    "title",       "author",     "volumes",    "volume",   "status", "genres",
    "demographic", "synopsis",   "start_year", "end_year", "works",  "promotions",
    "promo_title", "promo_text", "discount",   "end_date",
};

struct Segment {
  Placeholder placeholder = kLiteral;
  std::string literal;
};

struct Template {
  std::vector<Segment> segments;
  uint32_t used = 0;  // bit per placeholder
  size_t literal_bytes = 0;

  bool Uses(Placeholder p) const { return (used >> p) & 1u; }
};

using Values = std::array<std::string, kPlaceholderCount>;

std::string Render(const Template& t, const Values& values) {
  size_t size = t.literal_bytes;
  for (const Segment& s : t.segments) {
    if (s.placeholder != kLiteral) size += values[s.placeholder].size();
  }
  std::string out;
  out.reserve(size);
  for (const Segment& s : t.segments) {
    out += s.placeholder == kLiteral ? s.literal : values[s.placeholder];
  }
  // An empty trailing field (a row without a synopsis) must not leave a dangling space.
  while (!out.empty() && absl::ascii_isspace(static_cast<unsigned char>(out.back()))) {
    out.pop_back();
  }
  return out;
}

struct BilingualTemplate {
  Template en;
  Template ja;
  const Template& Get(bool japanese) const { return japanese ? ja : en; }
};

struct BilingualText {
  std::string en;
  std::string ja;
  const std::string& Get(bool japanese) const { return japanese ? ja : en; }
};

// ---------------------------------------------------------------------------------------------
// Loading helpers (this absl build has its own string_view: pass std::string to StrCat). yaml-cpp
// throws; every exception is caught in Create() and turned into a status naming the file.

class Loader {
 public:
  explicit Loader(std::string path) : path_(std::move(path)) {}

  absl::Status Error(const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": ", what));
  }

  absl::StatusOr<std::string> String(const YAML::Node& node, const std::string& where) const {
    if (!node.IsDefined() || node.IsNull()) return Error(absl::StrCat("missing ", where));
    if (!node.IsScalar()) return Error(absl::StrCat(where, " must be a string"));
    return node.as<std::string>();
  }

  absl::StatusOr<Template> Parse(std::string_view text, const std::string& where,
                                 uint32_t allowed) const {
    Template t;
    std::string literal;
    for (size_t i = 0; i < text.size();) {
      if (text[i] != '{') {
        literal.push_back(text[i++]);
        continue;
      }
      const size_t close = text.find('}', i);
      if (close == std::string_view::npos) {
        return Error(absl::StrCat(where, ": unterminated '{'"));
      }
      const std::string_view name = text.substr(i + 1, close - i - 1);
      size_t p = 0;
      while (p < kPlaceholderCount && kPlaceholderNames[p] != name) ++p;
      if (p == kPlaceholderCount || ((allowed >> p) & 1u) == 0) {
        return Error(absl::StrCat(where, ": unknown placeholder {", std::string(name), "}"));
      }
      if (!literal.empty()) {
        t.literal_bytes += literal.size();
        t.segments.push_back({kLiteral, std::move(literal)});
        literal.clear();
      }
      t.segments.push_back({static_cast<Placeholder>(p), {}});
      t.used |= 1u << p;
      i = close + 1;
    }
    if (!literal.empty()) {
      t.literal_bytes += literal.size();
      t.segments.push_back({kLiteral, std::move(literal)});
    }
    return t;
  }

  absl::StatusOr<BilingualText> Text(const YAML::Node& node, const std::string& where) const {
    if (!node.IsDefined() || node.IsNull()) return Error(absl::StrCat("missing ", where));
    if (!node.IsMap()) return Error(absl::StrCat(where, " must be a map with 'en' and 'ja'"));
    BilingualText out;
    auto en = String(node["en"], absl::StrCat(where, ".en"));
    if (!en.ok()) return en.status();
    auto ja = String(node["ja"], absl::StrCat(where, ".ja"));
    if (!ja.ok()) return ja.status();
    out.en = *std::move(en);
    out.ja = *std::move(ja);
    return out;
  }

  absl::StatusOr<BilingualTemplate> BiTemplate(const YAML::Node& node, const std::string& where,
                                               uint32_t allowed) const {
    auto text = Text(node, where);
    if (!text.ok()) return text.status();
    if (text->en.empty() || text->ja.empty()) {
      return Error(absl::StrCat(where, " needs non-empty 'en' and 'ja' texts"));
    }
    BilingualTemplate out;
    auto en = Parse(text->en, absl::StrCat(where, ".en"), allowed);
    if (!en.ok()) return en.status();
    auto ja = Parse(text->ja, absl::StrCat(where, ".ja"), allowed);
    if (!ja.ok()) return ja.status();
    out.en = *std::move(en);
    out.ja = *std::move(ja);
    return out;
  }

  absl::StatusOr<std::vector<std::string>> Strings(const YAML::Node& node,
                                                   const std::string& where) const {
    if (!node.IsDefined() || !node.IsSequence() || node.size() == 0) {
      return Error(absl::StrCat(where, " must be a non-empty list of strings"));
    }
    std::vector<std::string> out;
    for (size_t i = 0; i < node.size(); ++i) {
      auto s = String(node[i], absl::StrCat(where, "[", i, "]"));
      if (!s.ok()) return s.status();
      out.push_back(*std::move(s));
    }
    return out;
  }

 private:
  std::string path_;
};

RE2::Options CueOptions() {
  RE2::Options options;
  options.set_case_sensitive(false);
  options.set_log_errors(false);
  return options;
}

constexpr uint32_t kAllPlaceholders = (1u << kPlaceholderCount) - 1;

// The fixed templates of catalog answers; the topic and small-talk templates are named in the
// file's `topics` and `small_talk` lists.
enum Fixed {
  kProduct,
  kProductCompleted,
  kProductNoVolumes,
  kVolumeInRange,
  kVolumeNotYet,
  kVolumeBeyondEnd,
  kVolumeCountUnknown,
  kLatestVolume,
  kLatestVolumeCompleted,
  kLatestVolumeUnknown,
  kAuthorWorks,
  kRecommendSimilar,
  kRecommendNone,
  kRecommendGenre,
  kRecommendPopular,
  kPromotionsNow,
  kPromotionsNone,
  kPromotionsTitle,
  kPromotionsTitleNone,
  kFallback,
  kFixedCount,
};

constexpr std::array<std::string_view, kFixedCount> kFixedIds = {
    "product",
    "product_completed",
    "product_no_volumes",
    "volume_in_range",
    "volume_not_yet",
    "volume_beyond_end",
    "volume_count_unknown",
    "latest_volume",
    "latest_volume_completed",
    "latest_volume_unknown",
    "author_works",
    "recommend_similar",
    "recommend_none",
    "recommend_genre",
    "recommend_popular",
    "promotions",
    "promotions_none",
    "promotions_title",
    "promotions_title_none",
    "fallback",
};

// What a promotion item ({promotions}) may show.
constexpr uint32_t kPromotionItemPlaceholders =
    (1u << kPromoTitle) | (1u << kPromoText) | (1u << kDiscount) | (1u << kEndDate);

bool IsAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// The last day of a promotion ([start, end): the day of its last second), in `zone`:
// "Nov 30, 2026" / "2026年11月30日".
std::string EndDate(absl::Time end, absl::TimeZone zone, bool ja) {
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const absl::CivilDay day = absl::ToCivilDay(end - absl::Seconds(1), zone);
  if (ja) return absl::StrCat(day.year(), "年", day.month(), "月", day.day(), "日");
  return absl::StrCat(kMonths[static_cast<size_t>(day.month() - 1)], " ", day.day(), ", ",
                      day.year());
}

}  // namespace

struct ExtractiveResponder::Impl {
  struct Cue {
    std::string id;
    BilingualTemplate answer;
  };

  // A catalog genre and the words that name it in a request ("horror", 「ホラー」, "scary").
  struct GenreWords {
    std::string genre;
    std::unique_ptr<RE2> words;
  };

  const rag::Catalog* catalog = nullptr;
  const rag::StoreLookup* lookup = nullptr;
  std::vector<Cue> topics;
  std::vector<Cue> small_talk;
  // Every topic, small-talk, promotion and recommendation pattern: one pass over the message
  // finds them all.
  std::unique_ptr<RE2::Set> cues;
  // Set index → topics index, ~small_talk index, or one of the two markers below.
  std::vector<int> cue_owner;
  static constexpr int kPromotionCue = std::numeric_limits<int>::min();
  static constexpr int kRecommendationCue = std::numeric_limits<int>::min() + 1;
  static constexpr int kLatestVolumeCue = std::numeric_limits<int>::min() + 2;
  std::vector<std::unique_ptr<RE2>> volume_number;
  size_t max_author_works = 5;
  std::vector<GenreWords> genre_words;
  size_t max_recommendations = 5;
  size_t max_promotions = 3;
  absl::TimeZone time_zone;  // promotion end dates
  BilingualTemplate promotion_item;
  BilingualText promotion_separator;
  std::array<BilingualTemplate, kFixedCount> fixed;
  BilingualText unknown;
  BilingualText list_separator;
  BilingualTemplate work_item;
  absl::flat_hash_map<std::string, BilingualText> status;
  absl::flat_hash_map<std::string, BilingualText> demographic;
  absl::flat_hash_map<std::string, std::string> genres_ja;

  absl::Status Load(const std::string& path);
  absl::Status LoadStoreAnswers(const Loader& ld, const YAML::Node& root);
  // `latest`: a latest_volume cue matched the message.
  ExtractiveAnswer Product(const rag::CatalogEntry& e, std::string_view normalized, bool ja,
                           bool latest) const;
  // Null when the lookup fails: the message goes on to the next rule.
  std::optional<ExtractiveAnswer> Promotions(const rag::CatalogEntry* title, bool ja) const;
  std::optional<ExtractiveAnswer> Recommendation(const rag::CatalogEntry* seed,
                                                 std::string_view normalized, bool ja) const;
  // The catalog genre a message names, or "".
  std::string GenreIn(std::string_view normalized) const;
  std::string Works(const std::vector<rag::RecoItem>& items, bool ja) const;
  ExtractiveAnswer Author(const std::vector<rag::CatalogMatch>& matches, bool ja) const;
  void Fill(const rag::CatalogEntry& e, const Template& t, bool ja, Values* v) const;
  ExtractiveAnswer Make(const BilingualTemplate& t, std::string_view id, bool ja,
                        const rag::CatalogEntry* entry, const Values& v) const {
    return {Render(t.Get(ja), v), std::string(id), entry};
  }
};

absl::Status ExtractiveResponder::Impl::Load(const std::string& path) {
  const Loader ld(path);
  const YAML::Node root = YAML::LoadFile(path);
  if (!root.IsMap()) return ld.Error("top level must be a map");
  if (!root["version"].IsDefined() || root["version"].as<int>() != 1) {
    return ld.Error("'version' must be 1");
  }
  const YAML::Node templates = root["templates"];
  if (!templates.IsDefined() || !templates.IsMap()) return ld.Error("missing 'templates' map");

  for (size_t i = 0; i < kFixedCount; ++i) {
    auto t = ld.BiTemplate(templates[std::string(kFixedIds[i])],
                           absl::StrCat("templates.", std::string(kFixedIds[i])), kAllPlaceholders);
    if (!t.ok()) return t.status();
    fixed[i] = *std::move(t);
  }

  cues = std::make_unique<RE2::Set>(CueOptions(), RE2::UNANCHORED);
  absl::flat_hash_map<std::string, int> seen_ids;
  for (const bool is_topic : {true, false}) {
    const char* list_name = is_topic ? "topics" : "small_talk";
    const YAML::Node list = root[list_name];
    if (!list.IsDefined() || !list.IsSequence()) {
      return ld.Error(absl::StrCat("'", list_name, "' must be a list"));
    }
    std::vector<Cue>& out = is_topic ? topics : small_talk;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string where = absl::StrCat(list_name, "[", i, "]");
      auto id = ld.String(list[i]["id"], absl::StrCat(where, ".id"));
      if (!id.ok()) return id.status();
      if (!seen_ids.try_emplace(*id, 0).second) {
        return ld.Error(absl::StrCat(where, ": duplicate id '", *id, "'"));
      }
      auto answer = ld.BiTemplate(templates[*id], absl::StrCat("templates.", *id),
                                  /*allowed=*/0);  // topic answers are fixed text
      if (!answer.ok()) return answer.status();
      auto patterns = ld.Strings(list[i]["cues"], absl::StrCat(where, ".cues"));
      if (!patterns.ok()) return patterns.status();
      for (size_t p = 0; p < patterns->size(); ++p) {
        std::string error;
        const int index = cues->Add((*patterns)[p], &error);
        if (index < 0) {
          return ld.Error(absl::StrCat(where, ".cues[", p, "] '", (*patterns)[p],
                                       "' is not a valid RE2 pattern: ", error));
        }
        cue_owner.push_back(is_topic ? static_cast<int>(out.size())
                                     : ~static_cast<int>(out.size()));
      }
      out.push_back({*std::move(id), *std::move(answer)});
    }
  }
  for (const bool is_volume : {true, false}) {
    const char* name = is_volume ? "volume_number" : "latest_volume";
    auto patterns = ld.Strings(root[name], name);
    if (!patterns.ok()) return patterns.status();
    for (size_t p = 0; p < patterns->size(); ++p) {
      auto re = std::make_unique<RE2>((*patterns)[p], CueOptions());
      if (!re->ok()) {
        return ld.Error(absl::StrCat(name, "[", p, "] '", (*patterns)[p],
                                     "' is not a valid RE2 pattern: ", re->error()));
      }
      if (is_volume && re->NumberOfCapturingGroups() != 1) {
        return ld.Error(absl::StrCat(name, "[", p, "] '", (*patterns)[p],
                                     "' must have exactly one capturing group"));
      }
      if (is_volume) {
        volume_number.push_back(std::move(re));
      } else {  // a yes/no question: asked in the one pass over the cue set
        std::string error;
        if (cues->Add((*patterns)[p], &error) < 0) {
          return ld.Error(absl::StrCat(name, "[", p, "] '", (*patterns)[p],
                                       "' is not a valid RE2 pattern: ", error));
        }
        cue_owner.push_back(kLatestVolumeCue);
      }
    }
  }

  if (root["max_author_works"].IsDefined()) {
    const int n = root["max_author_works"].as<int>();
    if (n < 1 || n > 50) return ld.Error("'max_author_works' must be between 1 and 50");
    max_author_works = static_cast<size_t>(n);
  }

  const YAML::Node labels = root["labels"];
  if (!labels.IsDefined() || !labels.IsMap()) return ld.Error("missing 'labels' map");
  auto unknown_text = ld.Text(labels["unknown"], "labels.unknown");
  if (!unknown_text.ok()) return unknown_text.status();
  unknown = *std::move(unknown_text);
  auto separator = ld.Text(labels["list_separator"], "labels.list_separator");
  if (!separator.ok()) return separator.status();
  list_separator = *std::move(separator);
  auto item = ld.BiTemplate(labels["work_item"], "labels.work_item", 1u << kTitle);
  if (!item.ok()) return item.status();
  work_item = *std::move(item);
  for (const bool is_status : {true, false}) {
    const char* name = is_status ? "status" : "demographic";
    const YAML::Node map = labels[name];
    if (!map.IsDefined() || !map.IsMap())
      return ld.Error(absl::StrCat("labels.", name, " must be a map"));
    for (const auto& kv : map) {
      const std::string key = kv.first.as<std::string>();
      auto text = ld.Text(kv.second, absl::StrCat("labels.", name, ".", key));
      if (!text.ok()) return text.status();
      (is_status ? status : demographic)[key] = *std::move(text);
    }
  }
  const YAML::Node genres = labels["genres_ja"];
  if (genres.IsDefined()) {
    if (!genres.IsMap()) return ld.Error("labels.genres_ja must be a map");
    for (const auto& kv : genres) {
      genres_ja[kv.first.as<std::string>()] = kv.second.as<std::string>();
    }
  }
  if (absl::Status s = LoadStoreAnswers(ld, root); !s.ok()) return s;
  if (!cues->Compile()) return ld.Error("cue patterns are too large to compile");
  return absl::OkStatus();
}

absl::Status ExtractiveResponder::Impl::LoadStoreAnswers(const Loader& ld, const YAML::Node& root) {
  for (const bool is_promotion : {true, false}) {
    const char* name = is_promotion ? "promotion_cues" : "recommendation_cues";
    auto patterns = ld.Strings(root[name], name);
    if (!patterns.ok()) return patterns.status();
    for (size_t p = 0; p < patterns->size(); ++p) {
      std::string error;
      if (cues->Add((*patterns)[p], &error) < 0) {
        return ld.Error(absl::StrCat(name, "[", p, "] '", (*patterns)[p],
                                     "' is not a valid RE2 pattern: ", error));
      }
      cue_owner.push_back(is_promotion ? kPromotionCue : kRecommendationCue);
    }
  }
  for (const bool is_reco : {true, false}) {
    const char* name = is_reco ? "max_recommendations" : "max_promotions";
    if (!root[name].IsDefined()) continue;
    const int n = root[name].as<int>();
    if (n < 1 || n > 20) return ld.Error(absl::StrCat("'", name, "' must be between 1 and 20"));
    (is_reco ? max_recommendations : max_promotions) = static_cast<size_t>(n);
  }
  const std::string zone =
      root["time_zone"].IsDefined() ? root["time_zone"].as<std::string>() : "Asia/Tokyo";
  if (!absl::LoadTimeZone(zone, &time_zone)) {
    return ld.Error(absl::StrCat("time_zone: unknown time zone '", zone, "'"));
  }
  const YAML::Node labels = root["labels"];
  auto item =
      ld.BiTemplate(labels["promotion_item"], "labels.promotion_item", kPromotionItemPlaceholders);
  if (!item.ok()) return item.status();
  promotion_item = *std::move(item);
  auto separator = ld.Text(labels["promotion_separator"], "labels.promotion_separator");
  if (!separator.ok()) return separator.status();
  promotion_separator = *std::move(separator);

  // Every genre is named by its English and Japanese labels, plus the file's genre_words.
  const YAML::Node extra = root["genre_words"];
  if (extra.IsDefined() && !extra.IsMap()) return ld.Error("'genre_words' must be a map");
  if (extra.IsDefined()) {
    for (const auto& kv : extra) {
      const std::string genre = kv.first.as<std::string>();
      if (!genres_ja.contains(genre)) {
        return ld.Error(absl::StrCat("genre_words.", genre, ": not a genre of labels.genres_ja"));
      }
    }
  }
  const YAML::Node genres = labels["genres_ja"];
  for (const auto& kv : genres) {  // in file order
    const std::string genre = kv.first.as<std::string>();
    std::vector<std::string> words = {genre, genres_ja[genre]};
    if (extra.IsDefined() && extra[genre].IsDefined()) {
      auto more = ld.Strings(extra[genre], absl::StrCat("genre_words.", genre));
      if (!more.ok()) return more.status();
      words.insert(words.end(), more->begin(), more->end());
    }
    std::string pattern;
    for (const std::string& w : words) {
      if (w.empty()) continue;
      if (!pattern.empty()) pattern += '|';
      // Latin words match whole words ("art" is not in "martial"); Japanese ones anywhere.
      pattern += IsAscii(w) ? absl::StrCat("\\b", RE2::QuoteMeta(w), "\\b") : RE2::QuoteMeta(w);
    }
    auto re = std::make_unique<RE2>(pattern, CueOptions());
    if (!re->ok()) return ld.Error(absl::StrCat("genre words of ", genre, ": ", re->error()));
    genre_words.push_back({genre, std::move(re)});
  }
  return absl::OkStatus();
}

void ExtractiveResponder::Impl::Fill(const rag::CatalogEntry& e, const Template& t, bool ja,
                                     Values* v) const {
  const std::string& none = unknown.Get(ja);
  const std::string& sep = list_separator.Get(ja);
  const auto join = [&](const std::vector<std::string>& items, auto&& name_of) {
    std::string out;
    for (const std::string& item : items) {
      if (!out.empty()) out += sep;
      out += name_of(item);
    }
    return out.empty() ? none : out;
  };
  const auto same = [](const std::string& s) -> const std::string& { return s; };
  const auto year = [&](const std::string& date) {
    return date.size() >= 4 ? date.substr(0, 4) : none;
  };
  if (t.Uses(kTitle)) {
    const std::string& first = ja ? e.title_ja : e.title;
    (*v)[kTitle] = first.empty() ? (ja ? e.title : e.title_ja) : first;
  }
  if (t.Uses(kAuthor)) {
    const auto& names =
        (ja && !e.authors_ja.empty()) || e.authors.empty() ? e.authors_ja : e.authors;
    (*v)[kAuthor] = join(names, same);
  }
  if (t.Uses(kVolumes)) (*v)[kVolumes] = e.volumes >= 0 ? std::to_string(e.volumes) : none;
  if (t.Uses(kStatus)) {
    const auto it = status.find(e.status);
    (*v)[kStatus] = it != status.end() ? it->second.Get(ja) : (e.status.empty() ? none : e.status);
  }
  if (t.Uses(kDemographic)) {
    const auto it = demographic.find(e.demographic);
    (*v)[kDemographic] = it != demographic.end() ? it->second.Get(ja)
                                                 : (e.demographic.empty() ? none : e.demographic);
  }
  if (t.Uses(kGenres)) {
    (*v)[kGenres] = join(e.genres, [&](const std::string& g) -> const std::string& {
      if (!ja) return g;
      const auto it = genres_ja.find(g);
      return it != genres_ja.end() ? it->second : g;
    });
  }
  // Synopses are English-only in the catalog: a Japanese answer leaves them out.
  if (t.Uses(kSynopsis)) (*v)[kSynopsis] = ja ? std::string() : e.synopsis;
  if (t.Uses(kStartYear)) (*v)[kStartYear] = year(e.start_date);
  if (t.Uses(kEndYear)) (*v)[kEndYear] = year(e.end_date);
}

ExtractiveAnswer ExtractiveResponder::Impl::Product(const rag::CatalogEntry& e,
                                                    std::string_view normalized, bool ja,
                                                    bool latest) const {
  int volume = 0;
  const bool has_digit = normalized.find_first_of("0123456789") != std::string_view::npos;
  for (const auto& re : volume_number) {
    if (!has_digit) break;  // every volume pattern captures digits
    if (RE2::PartialMatch(normalized, *re, &volume) && volume > 0) break;
    volume = 0;
  }
  const bool known = e.volumes > 0;
  const bool finished = e.status == "completed" || e.status == "finished";
  Fixed id;
  if (volume > 0) {
    id = !known                ? kVolumeCountUnknown
         : volume <= e.volumes ? kVolumeInRange
                               : (finished ? kVolumeBeyondEnd : kVolumeNotYet);
  } else if (latest) {
    id = !known ? kLatestVolumeUnknown : (finished ? kLatestVolumeCompleted : kLatestVolume);
  } else {
    id = !known ? kProductNoVolumes : (finished ? kProductCompleted : kProduct);
  }
  const Template& t = fixed[id].Get(ja);
  Values v;
  // The card from the product: cache (or its origin); the matched row if the lookup fails.
  const rag::CatalogEntry* row = &e;
  absl::StatusOr<std::shared_ptr<const rag::CatalogEntry>> card;
  if (lookup != nullptr && (card = lookup->Product(e.id)).ok()) row = card->get();
  Fill(*row, t, ja, &v);
  if (t.Uses(kVolume)) v[kVolume] = std::to_string(volume);
  return Make(fixed[id], kFixedIds[id], ja, &e, v);
}

std::string ExtractiveResponder::Impl::Works(const std::vector<rag::RecoItem>& items,
                                             bool ja) const {
  const Template& item = work_item.Get(ja);
  std::string out;
  for (const rag::RecoItem& r : items) {
    if (!out.empty()) out += list_separator.Get(ja);
    rag::CatalogEntry e;
    e.title = r.title;
    e.title_ja = r.title_ja;
    Values title;
    Fill(e, item, ja, &title);
    out += Render(item, title);
  }
  return out;
}

std::string ExtractiveResponder::Impl::GenreIn(std::string_view normalized) const {
  // The genre named first in the message; at one position, the longer name ("slice of life").
  std::string best;
  size_t best_pos = std::string_view::npos, best_len = 0;
  for (const GenreWords& g : genre_words) {
    re2::StringPiece match;
    if (!g.words->Match(normalized, 0, normalized.size(), RE2::UNANCHORED, &match, 1)) continue;
    const size_t pos = static_cast<size_t>(match.data() - normalized.data());
    if (pos < best_pos || (pos == best_pos && match.size() > best_len)) {
      best = g.genre;
      best_pos = pos;
      best_len = match.size();
    }
  }
  return best;
}

std::optional<ExtractiveAnswer> ExtractiveResponder::Impl::Recommendation(
    const rag::CatalogEntry* seed, std::string_view normalized, bool ja) const {
  Values v;
  if (seed != nullptr) {
    auto items = lookup->Recommend({rag::RecoKind::kSimilar, seed->id, max_recommendations});
    if (!items.ok()) return std::nullopt;
    const Fixed id = items->empty() ? kRecommendNone : kRecommendSimilar;
    Fill(*seed, fixed[id].Get(ja), ja, &v);
    v[kWorks] = Works(*items, ja);
    return Make(fixed[id], kFixedIds[id], ja, seed, v);
  }
  if (const std::string genre = GenreIn(normalized); !genre.empty()) {
    auto items = lookup->Recommend({rag::RecoKind::kGenre, genre, max_recommendations});
    if (!items.ok()) return std::nullopt;
    if (!items->empty()) {
      const auto it = genres_ja.find(genre);
      v[kGenres] = ja && it != genres_ja.end() ? it->second : genre;
      v[kWorks] = Works(*items, ja);
      return Make(fixed[kRecommendGenre], kFixedIds[kRecommendGenre], ja, nullptr, v);
    }
  }
  auto items = lookup->Recommend({rag::RecoKind::kPopular, "", max_recommendations});
  if (!items.ok() || items->empty()) return std::nullopt;
  v[kWorks] = Works(*items, ja);
  return Make(fixed[kRecommendPopular], kFixedIds[kRecommendPopular], ja, nullptr, v);
}

std::optional<ExtractiveAnswer> ExtractiveResponder::Impl::Promotions(
    const rag::CatalogEntry* title, bool ja) const {
  auto running = lookup->ActivePromotions();
  if (!running.ok()) return std::nullopt;
  if (title != nullptr) {
    std::erase_if(*running, [title](const rag::Promotion& p) { return !p.Covers(*title); });
  }
  if (running->size() > max_promotions) running->resize(max_promotions);
  const Fixed id = title != nullptr ? (running->empty() ? kPromotionsTitleNone : kPromotionsTitle)
                                    : (running->empty() ? kPromotionsNone : kPromotionsNow);
  Values v;
  if (title != nullptr) Fill(*title, fixed[id].Get(ja), ja, &v);
  const Template& item = promotion_item.Get(ja);
  for (const rag::Promotion& p : *running) {
    Values pv;
    pv[kPromoTitle] = ja ? p.title_ja : p.title_en;
    pv[kPromoText] = ja ? p.text_ja : p.text_en;
    pv[kDiscount] = std::to_string(p.discount_percent);
    if (item.Uses(kEndDate)) pv[kEndDate] = EndDate(p.end, time_zone, ja);
    if (!v[kPromotions].empty()) v[kPromotions] += promotion_separator.Get(ja);
    v[kPromotions] += Render(item, pv);
  }
  return Make(fixed[id], kFixedIds[id], ja, title, v);
}

ExtractiveAnswer ExtractiveResponder::Impl::Author(const std::vector<rag::CatalogMatch>& matches,
                                                   bool ja) const {
  const rag::CatalogMatch& top = matches.front();
  const auto name_of = [&](const rag::CatalogMatch& m) -> const std::string& {
    const rag::CatalogEntry& e = *m.entry;
    const size_t i = static_cast<size_t>(m.author_index);
    if (ja && i < e.authors_ja.size()) return e.authors_ja[i];
    return i < e.authors.size() ? e.authors[i] : e.authors_ja[i];
  };
  const std::string& author = name_of(top);
  Values v;
  v[kAuthor] = author;
  const Template& item = work_item.Get(ja);
  for (const rag::CatalogMatch& m : matches) {
    if (m.field != rag::MatchField::kAuthor || name_of(m) != author) continue;
    if (!v[kWorks].empty()) v[kWorks] += list_separator.Get(ja);
    Values title;
    Fill(*m.entry, item, ja, &title);
    v[kWorks] += Render(item, title);
  }
  return Make(fixed[kAuthorWorks], kFixedIds[kAuthorWorks], ja, top.entry, v);
}

ExtractiveResponder::ExtractiveResponder(std::unique_ptr<const Impl> impl)
    : impl_(std::move(impl)) {}
ExtractiveResponder::~ExtractiveResponder() = default;

absl::StatusOr<std::unique_ptr<ExtractiveResponder>> ExtractiveResponder::Create(
    const rag::Catalog* catalog, const std::string& templates_path,
    const rag::StoreLookup* lookup) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(templates_path, ec)) {
    return absl::NotFoundError(
        absl::StrCat("extractive templates file not found: ", templates_path));
  }
  auto impl = std::make_unique<Impl>();
  impl->catalog = catalog;
  impl->lookup = lookup;
  absl::Status status;
  try {
    status = impl->Load(templates_path);
  } catch (const YAML::Exception& e) {
    status = absl::InvalidArgumentError(absl::StrCat(templates_path, ": ", e.what()));
  } catch (const std::exception& e) {
    status = absl::InvalidArgumentError(absl::StrCat(templates_path, ": ", e.what()));
  }
  if (!status.ok()) return status;
  return std::unique_ptr<ExtractiveResponder>(new ExtractiveResponder(std::move(impl)));
}

ExtractiveAnswer ExtractiveResponder::Answer(std::string_view message, core::Lang lang) const {
  const Impl& im = *impl_;
  const bool ja = lang != core::Lang::kEn;
  if (message.size() > kMaxMessageBytes) {
    size_t cut = kMaxMessageBytes;
    while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
    message = message.substr(0, cut);
  }
  // NFKC, so full-width digits and letters ("ＭＡ－２０２５", "１０５巻") match the ASCII cues.
  std::string storage;
  std::string_view normalized = message;
  if (!std::all_of(message.begin(), message.end(),
                   [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    core::NormalizeOptions options;
    options.invalid_utf8 = core::InvalidUtf8::kReplace;
    if (auto n = core::Normalize(message, options); n.ok()) {
      storage = std::move(n->text);
      normalized = storage;
    }
  }

  // The earliest-listed topic and small-talk entry whose cues match, and whether a promotion
  // or a recommendation cue does.
  int topic = -1, small_talk = -1;
  bool promotion = false, recommendation = false, latest = false;
  thread_local std::vector<int> hits;
  if (im.cues->Match(normalized, &hits)) {
    for (const int h : hits) {
      const int owner = im.cue_owner[static_cast<size_t>(h)];
      if (owner == Impl::kPromotionCue) {
        promotion = true;
      } else if (owner == Impl::kRecommendationCue) {
        recommendation = true;
      } else if (owner == Impl::kLatestVolumeCue) {
        latest = true;
      } else if (owner >= 0) {
        if (topic < 0 || owner < topic) topic = owner;
      } else if (small_talk < 0 || ~owner < small_talk) {
        small_talk = ~owner;
      }
    }
  }
  const Values no_values;
  if (topic >= 0) {
    const Impl::Cue& c = im.topics[static_cast<size_t>(topic)];
    return im.Make(c.answer, c.id, ja, nullptr, no_values);
  }
  std::vector<rag::CatalogMatch> matches;
  if (im.catalog != nullptr) matches = im.catalog->Find(normalized, im.max_author_works);
  const rag::CatalogEntry* title =
      !matches.empty() && matches.front().field != rag::MatchField::kAuthor ? matches.front().entry
                                                                            : nullptr;
  if (im.lookup != nullptr) {
    if (promotion) {
      if (auto a = im.Promotions(title, ja)) return *std::move(a);
    }
    // "Anything by <author>?" is answered with the author's works, below.
    if ((title != nullptr || matches.empty()) && recommendation) {
      if (auto a = im.Recommendation(title, normalized, ja)) return *std::move(a);
    }
  }
  if (title != nullptr) return im.Product(*title, normalized, ja, latest);
  if (!matches.empty()) return im.Author(matches, ja);
  if (small_talk >= 0) {
    const Impl::Cue& c = im.small_talk[static_cast<size_t>(small_talk)];
    return im.Make(c.answer, c.id, ja, nullptr, no_values);
  }
  return im.Make(im.fixed[kFallback], kFixedIds[kFallback], ja, nullptr, no_values);
}

}  // namespace mangaassist::llm
