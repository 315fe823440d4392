// The manga catalog: rows loaded from JSONL and a lookup that finds the titles and authors a
// user message mentions. A Catalog owns its entries and index and is immutable once built, so
// every const method is thread-safe; Find() keeps its scratch space in thread-local buffers.
//
// Matching (see catalog.cc for the details): titles, aliases and author names are indexed after
// NFKC, lowercasing and punctuation folding ("SPY×FAMILY" ≈ "spy family", "ＯＮＥ　ＰＩＥＣＥ" ≈
// "one piece", "ブラック・ジャック" ≈ "ブラックジャック"). Latin keys match whole words; Japanese
// keys match as substrings. Each key is posted under its rarest gram (a Latin word or a Japanese
// character bigram), so a lookup touches a handful of candidates instead of every row.
// Titles that are ordinary words ("Monster", "Look Back", "HUMAN", "お願い"), very short, or
// flagged `strict_match` in the data only match when they stand out: quoted, followed by a volume
// number ("vol 3", "3巻"), or (Latin) capitalized mid-sentence in a message that is not ALL CAPS,
// or (Japanese) forming the whole message. The word lists behind this are heuristics in
// catalog.cc; they keep the 26k-row MADB catalog, full of such titles, from matching chit-chat.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace mangaassist::rag {

// One catalog row. Text fields are empty when the source value is null; counts are -1.
// authors_ja[i], when present, is the Japanese form of authors[i].
struct CatalogEntry {
  std::string id;
  std::string title;     // English (or romanized) title
  std::string title_ja;  // Japanese title
  std::vector<std::string> authors;
  std::vector<std::string> authors_ja;
  std::vector<std::string> genres;
  std::vector<std::string> aliases;  // other names users type ("JJK", "鬼滅")
  std::string demographic;           // shonen / seinen / shojo / josei / kodomo
  std::string status;                // ongoing / completed / hiatus (MADB rows: finished)
  int volumes = -1;
  int chapters = -1;
  std::string start_date;  // "YYYY", "YYYY-MM" or "YYYY-MM-DD"
  std::string end_date;
  std::string synopsis;
  int popularity = -1;        // rank, 1 = most popular
  bool strict_match = false;  // title is a common phrase: match only when it stands out
};

// What LoadJsonl saw. Bad lines are skipped, never fatal.
struct LoadReport {
  size_t loaded_rows = 0;
  size_t bad_line_count = 0;
  // "path:LINE: reason", 1-based line numbers; only the first kMaxListedBadLines are listed.
  std::vector<std::string> bad_lines;
  static constexpr size_t kMaxListedBadLines = 1000;
};

enum class MatchField { kTitle, kTitleJa, kAlias, kAuthor };

struct CatalogMatch {
  const CatalogEntry* entry = nullptr;
  MatchField field = MatchField::kTitle;
  // For kAuthor: index into entry->authors (and authors_ja when present) of the matched name.
  int author_index = -1;
  // The catalog string that matched (a title, alias or author name); points into `entry`.
  std::string_view matched;
  // Specificity of the match: its length, Japanese characters counting double.
  int score = 0;
};

// Parses one row in the shape of catalog.jsonl (the product: cache stores cards this way), with
// LoadJsonl's checks. InvalidArgument with the reason otherwise. Thread-safe.
absl::StatusOr<CatalogEntry> ParseCatalogRow(std::string_view json);

class Catalog {
 public:
  // Reads one JSON object per line (the shape of data/catalog/catalog.jsonl). Lines that are not
  // valid JSON objects, have fields of the wrong type, lack an id, lack both titles or repeat an
  // id are skipped and listed in `report` (may be null). A missing file is NotFound; an unreadable
  // file or one with no valid row is an error.
  static absl::StatusOr<std::unique_ptr<Catalog>> LoadJsonl(const std::string& path,
                                                            LoadReport* report);

  // Builds a catalog from rows already in memory (tests, tools). Fails on a duplicate or empty id.
  static absl::StatusOr<std::unique_ptr<Catalog>> FromEntries(std::vector<CatalogEntry> entries);

  ~Catalog();
  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;

  size_t size() const;
  const std::vector<CatalogEntry>& entries() const;

  // Exact id lookup; nullptr when absent.
  const CatalogEntry* FindById(std::string_view id) const;

  // Catalog entries mentioned in `text`, best first: title and alias matches before author
  // matches, then the longest match, then popularity. A match inside a longer one ("Naruto" in
  // "Boruto: Naruto Next Generations") is dropped; an entry appears at most once. Only the first
  // kMaxFindInputBytes of `text` are read.
  std::vector<CatalogMatch> Find(std::string_view text, size_t max_results) const;

  static constexpr size_t kMaxFindInputBytes = 4096;

 private:
  struct Index;
  explicit Catalog(std::unique_ptr<Index> index);

  std::unique_ptr<Index> index_;
};

}  // namespace mangaassist::rag
