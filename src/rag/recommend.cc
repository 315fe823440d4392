#include "rag/recommend.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"

namespace mangaassist::rag {
namespace {

bool Contains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

bool ContainsIgnoreCase(const std::vector<std::string>& list, std::string_view s) {
  return std::any_of(list.begin(), list.end(), [s](const std::string& item) {
    return absl::EqualsIgnoreCase(item, core::ToAbsl(s));
  });
}

// Unranked rows sort after every ranked one.
int64_t RankKey(const CatalogEntry& e) {
  return e.popularity > 0 ? e.popularity : std::numeric_limits<int64_t>::max();
}

bool SameTitle(const CatalogEntry& a, const CatalogEntry& b) {
  return (!a.title.empty() && a.title == b.title) ||
         (!a.title_ja.empty() && a.title_ja == b.title_ja);
}

struct Scored {
  int score;
  const CatalogEntry* entry;
};

// Best first: higher score, better-known title, smaller id.
bool Better(const Scored& a, const Scored& b) {
  if (a.score != b.score) return a.score > b.score;
  const int64_t ra = RankKey(*a.entry), rb = RankKey(*b.entry);
  if (ra != rb) return ra < rb;
  return a.entry->id < b.entry->id;
}

std::vector<RecoItem> Top(std::vector<Scored> scored, size_t n) {
  const size_t k = std::min(n, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(k), scored.end(),
                    Better);
  std::vector<RecoItem> out;
  out.reserve(k);
  for (size_t i = 0; i < k; ++i) {
    const CatalogEntry& e = *scored[i].entry;
    out.push_back({e.id, e.title, e.title_ja});
  }
  return out;
}

}  // namespace

int SimilarityScore(const CatalogEntry& seed, const CatalogEntry& candidate, size_t catalog_size) {
  int shared_authors = 0;
  for (size_t i = 0; i < candidate.authors.size(); ++i) {
    if (Contains(seed.authors, candidate.authors[i])) {
      ++shared_authors;
    } else if (i < candidate.authors_ja.size() &&
               Contains(seed.authors_ja, candidate.authors_ja[i])) {
      ++shared_authors;
    }
  }
  if (candidate.authors.empty()) {  // rows with Japanese names only
    for (const std::string& a : candidate.authors_ja)
      shared_authors += Contains(seed.authors_ja, a);
  }
  int shared_genres = 0;
  for (const std::string& g : candidate.genres) shared_genres += ContainsIgnoreCase(seed.genres, g);
  if (shared_authors == 0 && shared_genres == 0) return 0;

  const int genre_union =
      static_cast<int>(seed.genres.size() + candidate.genres.size()) - shared_genres;
  int score = kSharedAuthorPoints * shared_authors;
  if (genre_union > 0) score += kGenrePoints * shared_genres / genre_union;
  if (!seed.demographic.empty() && seed.demographic == candidate.demographic) {
    score += kDemographicPoints;
  }
  const int64_t n = static_cast<int64_t>(catalog_size);
  if (candidate.popularity > 0 && candidate.popularity <= n && n > 0) {
    score += static_cast<int>(kPopularityPoints * (n - candidate.popularity + 1) / n);
  }
  return std::max(score, 1);  // related at all: never 0
}

absl::StatusOr<std::vector<RecoItem>> Recommend(const Catalog& catalog, const RecoQuery& query) {
  const std::vector<CatalogEntry>& rows = catalog.entries();
  std::vector<Scored> scored;
  switch (query.kind) {
    case RecoKind::kSimilar: {
      const CatalogEntry* seed = catalog.FindById(query.subject);
      if (seed == nullptr) {
        return absl::NotFoundError(
            absl::StrCat("recommendations: no catalog id '", core::ToAbsl(query.subject), "'"));
      }
      for (const CatalogEntry& e : rows) {
        if (&e == seed || SameTitle(e, *seed)) continue;
        if (const int s = SimilarityScore(*seed, e, rows.size()); s > 0) scored.push_back({s, &e});
      }
      break;
    }
    case RecoKind::kGenre:
      for (const CatalogEntry& e : rows) {
        if (ContainsIgnoreCase(e.genres, query.subject)) scored.push_back({0, &e});
      }
      break;
    case RecoKind::kPopular:
      scored.reserve(rows.size());
      for (const CatalogEntry& e : rows) scored.push_back({0, &e});
      break;
  }
  return Top(std::move(scored), query.n);
}

}  // namespace mangaassist::rag
