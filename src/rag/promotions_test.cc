#include "rag/promotions.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mangaassist::rag {
namespace {

using ::testing::HasSubstr;

const std::string kShipped =
    std::string(MANGAASSIST_DATA_DIR_FOR_TESTS) + "/promotions/promotions.yaml";

absl::Time Jst(const char* rfc3339) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) << err;
  return t;
}

std::string One(const std::string& fields) {
  return "version: 1\npromotions:\n  - id: p1\n"
         "    title: {en: Sale, ja: セール}\n"
         "    text: {en: 10% off., ja: 10%オフ。}\n" +
         fields;
}

constexpr char kTimes[] =
    "    start: 2026-11-01T00:00:00+09:00\n    end: 2026-12-01T00:00:00+09:00\n";

TEST(PromotionsTest, TheShippedFileLoads) {
  auto set = PromotionSet::LoadFile(kShipped);
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_GE((*set)->promotions().size(), 3u);
  EXPECT_EQ((*set)->version().size(), 16u);
  const Promotion& welcome = (*set)->promotions()[0];
  EXPECT_EQ(welcome.id, "welcome-coupon");
  EXPECT_EQ(welcome.discount_percent, 10);
  EXPECT_EQ(welcome.start, Jst("2026-01-01T00:00:00+09:00"));
  EXPECT_FALSE(welcome.title_ja.empty());
  EXPECT_FALSE(welcome.text_en.empty());
}

TEST(PromotionsTest, ParsesEveryField) {
  auto set = PromotionSet::LoadString(One(std::string(kTimes) + "    discount_percent: 15\n"
                                                                "    genres: [Fantasy]\n"
                                                                "    titles: [\"ma:0007\"]\n"),
                                      "p.yaml");
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ((*set)->promotions().size(), 1u);
  const Promotion& p = (*set)->promotions()[0];
  EXPECT_EQ(p.title_en, "Sale");
  EXPECT_EQ(p.text_ja, "10%オフ。");
  EXPECT_EQ(p.start, Jst("2026-10-31T15:00:00Z"));
  EXPECT_EQ(p.end, Jst("2026-11-30T15:00:00Z"));
  EXPECT_EQ(p.discount_percent, 15);
  EXPECT_THAT(p.genres, ::testing::ElementsAre("Fantasy"));
  EXPECT_THAT(p.title_ids, ::testing::ElementsAre("ma:0007"));
}

TEST(PromotionsTest, ErrorsNameTheFileLineAndKey) {
  struct Case {
    std::string yaml;
    std::string expected;
  };
  const Case cases[] = {
      {One("    start: 2026-11-01\n    end: 2026-12-01T00:00:00+09:00\n"),
       "p.yaml:6: promotions[0].start: '2026-11-01' is not an RFC 3339 time"},
      {One("    start: 2026-11-01T00:00:00+09:00\n    end: 2026-11-01T00:00:00+09:00\n"),
       "p.yaml:7: promotions[0].end: must be after start"},
      {One(std::string(kTimes) + "    discount_percent: 120\n"),
       "p.yaml:8: promotions[0].discount_percent: must be an integer from 0 to 100"},
      {One(std::string(kTimes) + "    discount_percent: 12.5\n"),
       "p.yaml:8: promotions[0].discount_percent: must be an integer"},
      {One(std::string(kTimes) + "    colour: red\n"),
       "p.yaml:8: promotions[0].colour: unknown key"},
      {One("    start: 2026-11-01T00:00:00.5+09:00\n    end: 2026-12-01T00:00:00+09:00\n"),
       "p.yaml:6: promotions[0].start: must be a whole second"},
      {"version: 1\npromotions:\n  - id: p1\n    title: {en: Sale}\n",
       "p.yaml:4: promotions[0].title.ja: missing"},
      {"version: 2\n", "p.yaml:1: version: must be 1"},
      {"version: 1\nsales: []\n", "p.yaml:2: sales: unknown key"},
      {"version: 1\npromotions: [\n", "p.yaml:"},
  };
  for (const Case& c : cases) {
    auto set = PromotionSet::LoadString(c.yaml, "p.yaml");
    ASSERT_FALSE(set.ok()) << c.yaml;
    EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(set.status().message(), HasSubstr(c.expected)) << c.yaml;
  }
}

TEST(PromotionsTest, ARepeatedIdIsAnError) {
  const std::string p =
      "  - id: p1\n    title: {en: a, ja: b}\n    text: {en: a, ja: b}\n" + std::string(kTimes);
  auto set = PromotionSet::LoadString("version: 1\npromotions:\n" + p + p, "p.yaml");
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(set.status().message(), HasSubstr("p.yaml:8: promotions[1].id: 'p1' is used twice"));
}

TEST(PromotionsTest, AMissingFileIsNotFound) {
  EXPECT_EQ(PromotionSet::LoadFile("/nonexistent/promotions.yaml").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(PromotionsTest, AnEditChangesTheVersion) {
  auto a = PromotionSet::LoadString(One(kTimes), "p.yaml");
  auto b =
      PromotionSet::LoadString(One(std::string(kTimes) + "    discount_percent: 11\n"), "p.yaml");
  auto a2 = PromotionSet::LoadString(One(kTimes), "other.yaml");
  ASSERT_TRUE(a.ok() && b.ok() && a2.ok());
  EXPECT_NE((*a)->version(), (*b)->version());
  EXPECT_EQ((*a)->version(), (*a2)->version());
}

TEST(PromotionsTest, RunsOnAHalfOpenInterval) {
  auto set = PromotionSet::LoadString(One(kTimes), "p.yaml");
  ASSERT_TRUE(set.ok());
  const Promotion& p = (*set)->promotions()[0];
  EXPECT_FALSE(p.RunningAt(Jst("2026-10-31T23:59:59+09:00")));
  EXPECT_TRUE(p.RunningAt(Jst("2026-11-01T00:00:00+09:00")));
  EXPECT_TRUE(p.RunningAt(Jst("2026-11-30T23:59:59+09:00")));
  EXPECT_FALSE(p.RunningAt(Jst("2026-12-01T00:00:00+09:00")));
  const absl::Time start = Jst("2026-11-01T00:00:00+09:00");
  EXPECT_EQ((*set)->Overlapping(start - absl::Hours(1), start).size(), 0u);
  EXPECT_EQ((*set)->Overlapping(start - absl::Hours(1), start + absl::Seconds(1)).size(), 1u);
  EXPECT_EQ(
      (*set)->Overlapping(Jst("2026-12-01T00:00:00+09:00"), Jst("2027-01-01T00:00:00Z")).size(),
      0u);
}

TEST(PromotionsTest, CoversTargetedTitlesOnly) {
  CatalogEntry spy;
  spy.id = "ma:0007";
  spy.genres = {"Action", "Comedy"};
  CatalogEntry frieren;
  frieren.id = "ma:0009";
  frieren.genres = {"Fantasy", "Adventure"};
  Promotion storewide, by_genre, by_title;
  by_genre.genres = {"Fantasy"};
  by_title.title_ids = {"ma:0007"};
  EXPECT_TRUE(storewide.Covers(spy));
  EXPECT_TRUE(storewide.Covers(frieren));
  EXPECT_FALSE(by_genre.Covers(spy));
  EXPECT_TRUE(by_genre.Covers(frieren));
  EXPECT_TRUE(by_title.Covers(spy));
  EXPECT_FALSE(by_title.Covers(frieren));
}

}  // namespace
}  // namespace mangaassist::rag
