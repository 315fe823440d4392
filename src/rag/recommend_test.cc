// Recommendation ranking on a small hand-made catalog whose scores are worked out by hand
// (rag/recommend.h: 40 per shared author, 60 × shared / union genres, 15 for the demographic,
// 10 × (N − rank + 1) / N for popularity; N = 10 rows here).
#include "rag/recommend.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mangaassist::rag {
namespace {

using ::testing::ElementsAre;

CatalogEntry Row(std::string id, std::string title, std::vector<std::string> authors,
                 std::vector<std::string> genres, std::string demographic, int popularity) {
  CatalogEntry e;
  e.id = std::move(id);
  e.title = std::move(title);
  e.title_ja = e.title + "（日本語）";
  e.authors = std::move(authors);
  e.genres = std::move(genres);
  e.demographic = std::move(demographic);
  e.popularity = popularity;
  return e;
}

const Catalog& Small() {
  static const Catalog* const catalog = [] {
    std::vector<CatalogEntry> rows = {
        Row("t:s", "Seed Saga", {"Aoi Mori"}, {"Action", "Fantasy", "Adventure"}, "shonen", 5),
        // 40 + 60·1/4 + 0 + 10·4/10 = 59: the same author, little else in common.
        Row("t:c1", "Mori's Romance", {"Aoi Mori"}, {"Action", "Romance"}, "josei", 7),
        // 60 + 15 + 10·3/10 = 78: the same genres and demographic.
        Row("t:c2", "Twin Blades", {"Ren Ito"}, {"Action", "Fantasy", "Adventure"}, "shonen", 8),
        // 60 + 0 + 9 = 69: the same genres, another demographic, very popular.
        Row("t:c3", "Quest Road", {"Yu Sato"}, {"Adventure", "Fantasy", "Action"}, "seinen", 2),
        // 60·1/3 + 15 + 10 = 45: one shared genre, the most popular row.
        Row("t:c4", "Punch Club", {"Kai Abe"}, {"Action"}, "shonen", 1),
        // 60·3/7 (25) + 15 + 7 = 47: every genre, so the overlap is diluted.
        Row("t:c5", "Everything Manga", {"Mei Ono"},
            {"Action", "Fantasy", "Adventure", "Comedy", "Drama", "Horror", "Romance"}, "shonen",
            4),
        // Shares only the demographic: not a recommendation.
        Row("t:c6", "Kitchen Days", {"Sho Kato"}, {"Cooking"}, "shonen", 3),
        // Another edition of the seed (same title): never recommended for it.
        Row("t:c7", "Seed Saga", {"Aoi Mori"}, {"Action", "Fantasy", "Adventure"}, "shonen", 6),
        // 60·1/3 + 15 + 0 = 35 each, unranked: the smaller id first.
        Row("t:c9", "Fairy Tale B", {"Nao Ueda"}, {"Fantasy"}, "shonen", -1),
        Row("t:c8", "Fairy Tale A", {"Nao Ueda"}, {"Fantasy"}, "shonen", -1),
    };
    auto c = Catalog::FromEntries(std::move(rows));
    EXPECT_TRUE(c.ok()) << c.status();
    return c->release();
  }();
  return *catalog;
}

std::vector<std::string> Ids(const std::vector<RecoItem>& items) {
  std::vector<std::string> ids;
  for (const RecoItem& r : items) ids.push_back(r.id);
  return ids;
}

const CatalogEntry& ById(const char* id) { return *Small().FindById(id); }

TEST(RecommendTest, ScoresAreTheDocumentedSums) {
  const CatalogEntry& seed = ById("t:s");
  EXPECT_EQ(SimilarityScore(seed, ById("t:c1"), 10), 59);
  EXPECT_EQ(SimilarityScore(seed, ById("t:c2"), 10), 78);
  EXPECT_EQ(SimilarityScore(seed, ById("t:c3"), 10), 69);
  EXPECT_EQ(SimilarityScore(seed, ById("t:c4"), 10), 45);
  EXPECT_EQ(SimilarityScore(seed, ById("t:c5"), 10), 47);
  EXPECT_EQ(SimilarityScore(seed, ById("t:c6"), 10), 0);
  EXPECT_EQ(SimilarityScore(seed, ById("t:c8"), 10), 35);
}

TEST(RecommendTest, SimilarRanksByScoreThenPopularityThenId) {
  auto r = Recommend(Small(), {RecoKind::kSimilar, "t:s", 10});
  ASSERT_TRUE(r.ok()) << r.status();
  // Not the seed, not its other edition (t:c7), not the unrelated t:c6.
  EXPECT_THAT(Ids(*r), ElementsAre("t:c2", "t:c3", "t:c1", "t:c5", "t:c4", "t:c8", "t:c9"));
  EXPECT_EQ((*r)[0].title, "Twin Blades");
  EXPECT_EQ((*r)[0].title_ja, "Twin Blades（日本語）");
}

TEST(RecommendTest, SimilarKeepsTheTopN) {
  auto r = Recommend(Small(), {RecoKind::kSimilar, "t:s", 3});
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(Ids(*r), ElementsAre("t:c2", "t:c3", "t:c1"));
  auto none = Recommend(Small(), {RecoKind::kSimilar, "t:s", 0});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(RecommendTest, ASharedAuthorCountsInEitherScript) {
  CatalogEntry seed = Row("a", "A", {}, {"Drama"}, "", -1);
  seed.authors_ja = {"森葵"};
  CatalogEntry ja_only = Row("b", "B", {}, {"Horror"}, "", -1);
  ja_only.authors_ja = {"森葵"};
  CatalogEntry romanized = Row("c", "C", {"Somebody Else"}, {"Horror"}, "", -1);
  romanized.authors_ja = {"森葵"};
  EXPECT_EQ(SimilarityScore(seed, ja_only, 3), 40);
  EXPECT_EQ(SimilarityScore(seed, romanized, 3), 40);
}

TEST(RecommendTest, AnUnknownSeedIsNotFound) {
  EXPECT_EQ(Recommend(Small(), {RecoKind::kSimilar, "t:nope", 5}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(RecommendTest, GenreListsItsTitlesByPopularity) {
  auto r = Recommend(Small(), {RecoKind::kGenre, "fantasy", 10});  // any case
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(Ids(*r), ElementsAre("t:c3", "t:c5", "t:s", "t:c7", "t:c2", "t:c8", "t:c9"));
  auto none = Recommend(Small(), {RecoKind::kGenre, "Mecha", 10});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(RecommendTest, PopularListsRankedTitlesFirst) {
  auto r = Recommend(Small(), {RecoKind::kPopular, "", 4});
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(Ids(*r), ElementsAre("t:c4", "t:c3", "t:c6", "t:c5"));
  auto all = Recommend(Small(), {RecoKind::kPopular, "", 100});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 10u);
  EXPECT_EQ((*all)[8].id, "t:c8");  // unranked last, by id
  EXPECT_EQ((*all)[9].id, "t:c9");
}

}  // namespace
}  // namespace mangaassist::rag
