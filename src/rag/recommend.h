// Recommendations over the whole catalog: titles similar to a seed title, the best-known titles
// of a genre, or the best-known titles overall. Pure functions of an immutable Catalog, so
// thread-safe. The reco: cache keyspace stores their results (rag/store_lookup.h).
//
// Similarity is an integer score, so ranking is exact and the same on every machine:
//   kSharedAuthorPoints per author the two titles share (the strongest signal a store has:
//     readers follow authors), romanized or Japanese name;
//   up to kGenrePoints for genre overlap, scaled by shared / union (Jaccard), so a title with
//     every genre does not match everything;
//   kDemographicPoints when both have the same demographic (shonen, seinen, ...);
//   up to kPopularityPoints by popularity rank, (points × (N − rank + 1)) / N for N rows.
// A candidate needs a shared author or a shared genre; the seed itself and rows with the seed's
// title (another edition) never appear. Ties go to the better-known title (lower popularity
// rank; unranked last), then the smaller id.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "rag/catalog.h"

namespace mangaassist::rag {

enum class RecoKind {
  kSimilar,  // titles like `subject` (a catalog id)
  kGenre,    // the best-known titles of genre `subject` (a catalog genre, e.g. "Horror")
  kPopular,  // the best-known titles overall (`subject` empty)
};

struct RecoQuery {
  RecoKind kind = RecoKind::kPopular;
  std::string subject;
  size_t n = 5;
};

// One recommended title: enough to name it in either language and to look its card up.
struct RecoItem {
  std::string id;
  std::string title;
  std::string title_ja;
  friend bool operator==(const RecoItem&, const RecoItem&) = default;
};

inline constexpr int kSharedAuthorPoints = 40;
inline constexpr int kGenrePoints = 60;
inline constexpr int kDemographicPoints = 15;
inline constexpr int kPopularityPoints = 10;

// The similarity score of `candidate` to `seed` in a catalog of `catalog_size` rows; 0 when they
// share neither an author nor a genre (not a recommendation).
int SimilarityScore(const CatalogEntry& seed, const CatalogEntry& candidate, size_t catalog_size);

// At most query.n items, best first. kSimilar with an id the catalog does not hold is NotFound;
// a genre no row has gives an empty list.
absl::StatusOr<std::vector<RecoItem>> Recommend(const Catalog& catalog, const RecoQuery& query);

}  // namespace mangaassist::rag
