#include "rag/catalog.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mangaassist::rag {
namespace {

using ::testing::HasSubstr;

const std::string kShippedCatalog =
    std::string(MANGAASSIST_DATA_DIR_FOR_TESTS) + "/catalog/catalog.jsonl";
const std::string kSharedCatalog =
    std::string(MANGAASSIST_SHARED_DIR) + "/data/catalog/manga_catalog.jsonl";

// The shipped catalog, loaded once for the whole suite.
const Catalog& Shipped() {
  static const Catalog* const catalog = [] {
    LoadReport report;
    auto loaded = Catalog::LoadJsonl(kShippedCatalog, &report);
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    return loaded.ok() ? loaded->release() : nullptr;
  }();
  return *catalog;
}

std::vector<std::string> Ids(const std::vector<CatalogMatch>& matches) {
  std::vector<std::string> ids;
  for (const auto& m : matches) ids.push_back(m.entry->id);
  return ids;
}

std::string TopTitle(std::string_view message) {
  const auto matches = Shipped().Find(message, 5);
  return matches.empty() ? std::string("<none>") : matches[0].entry->title;
}

class TempFile {
 public:
  explicit TempFile(const std::string& contents) {
    path_ = (std::filesystem::temp_directory_path() /
             absl::StrCat("catalog_test_", ::getpid(), "_", counter_++, ".jsonl"))
                .string();
    std::ofstream(path_) << contents;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

TEST(CatalogLoadTest, ShippedCatalogLoadsCleanly) {
  LoadReport report;
  auto catalog = Catalog::LoadJsonl(kShippedCatalog, &report);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  EXPECT_GE(report.loaded_rows, 280u);
  EXPECT_EQ(report.bad_line_count, 0u) << (report.bad_lines.empty() ? "" : report.bad_lines[0]);
  EXPECT_EQ((*catalog)->size(), report.loaded_rows);
}

TEST(CatalogLoadTest, ShippedCatalogUsesTheDocumentedVocabulary) {
  const std::set<std::string> demographics = {"", "shonen", "seinen", "shojo", "josei", "kodomo"};
  const std::set<std::string> statuses = {"", "ongoing", "completed", "hiatus"};
  std::set<int> ranks;
  for (const CatalogEntry& e : Shipped().entries()) {
    SCOPED_TRACE(e.id);
    EXPECT_FALSE(e.title.empty());
    EXPECT_FALSE(e.title_ja.empty());
    EXPECT_FALSE(e.authors.empty());
    EXPECT_EQ(e.authors.size(), e.authors_ja.size());
    EXPECT_TRUE(demographics.count(e.demographic));
    EXPECT_TRUE(statuses.count(e.status));
    EXPECT_FALSE(e.synopsis.empty());
    if (e.status == "completed" && e.volumes > 0) {
      EXPECT_FALSE(e.end_date.empty());
    }
    EXPECT_TRUE(ranks.insert(e.popularity).second) << "duplicate popularity " << e.popularity;
  }
  EXPECT_EQ(*ranks.begin(), 1);
  EXPECT_EQ(*ranks.rbegin(), static_cast<int>(Shipped().size()));
}

TEST(CatalogLoadTest, ReportsBadLinesWithLineNumbersAndKeepsTheRest) {
  TempFile file(
      R"({"id":"t:1","title":"Good One","title_ja":"グッド","authors":["A B"],"volumes":3})"
      "\n"
      R"({"id":"t:2","title":"Broken")"  // line 2: truncated JSON
      "\n"
      "\n"                                               // line 3: blank, ignored
      R"({"id":"t:3","title":"Wrong","volumes":"ten"})"  // line 4: wrong type
      "\n"
      R"({"id":"t:4","title":null,"title_ja":null,"authors":[]})"  // line 5: no title
      "\n"
      R"(["not","an","object"])"  // line 6
      "\n"
      R"({"id":"t:1","title":"Again"})"  // line 7: duplicate id
      "\n"
      R"({"id":"t:5","title_ja":"題名だけ","authors":["作者"],"popularity":null})"  // line 8: ok
      "\n"
      R"({"id":"t:6","title":"Bad authors","authors":"Someone"})"  // line 9
      "\n");
  LoadReport report;
  auto catalog = Catalog::LoadJsonl(file.path(), &report);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  EXPECT_EQ(report.loaded_rows, 2u);
  EXPECT_EQ(report.bad_line_count, 6u);
  ASSERT_EQ(report.bad_lines.size(), 6u);
  const std::string& p = file.path();
  EXPECT_THAT(report.bad_lines[0], HasSubstr(p + ":2: invalid JSON"));
  EXPECT_EQ(report.bad_lines[1], p + ":4: field 'volumes' must be an integer or null");
  EXPECT_THAT(report.bad_lines[2], HasSubstr(p + ":5: no title"));
  EXPECT_EQ(report.bad_lines[3], p + ":6: not a JSON object");
  EXPECT_EQ(report.bad_lines[4], p + ":7: duplicate id 't:1' (first on line 1)");
  EXPECT_EQ(report.bad_lines[5], p + ":9: field 'authors' must be an array of strings or null");

  const CatalogEntry* good = (*catalog)->FindById("t:1");
  ASSERT_NE(good, nullptr);
  EXPECT_EQ(good->title, "Good One");
  EXPECT_EQ(good->volumes, 3);
  EXPECT_EQ(good->chapters, -1);
  const CatalogEntry* ja_only = (*catalog)->FindById("t:5");
  ASSERT_NE(ja_only, nullptr);
  EXPECT_TRUE(ja_only->title.empty());
  EXPECT_EQ(ja_only->popularity, -1);
  EXPECT_EQ((*catalog)->FindById("t:2"), nullptr);
}

TEST(CatalogLoadTest, MissingFileIsNotFound) {
  auto catalog = Catalog::LoadJsonl("/nonexistent/catalog.jsonl", nullptr);
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(catalog.status().message()), HasSubstr("/nonexistent/catalog.jsonl"));
}

TEST(CatalogLoadTest, FileWithoutValidRowsIsAnError) {
  TempFile file("{oops\n");
  LoadReport report;
  auto catalog = Catalog::LoadJsonl(file.path(), &report);
  EXPECT_EQ(catalog.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(report.bad_line_count, 1u);
}

TEST(CatalogLoadTest, FromEntriesRejectsDuplicateIds) {
  std::vector<CatalogEntry> rows(2);
  rows[0].id = rows[1].id = "x";
  rows[0].title = rows[1].title = "X";
  EXPECT_EQ(Catalog::FromEntries(std::move(rows)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CatalogFindTest, FindsEnglishTitleInAQuestion) {
  const auto matches = Shipped().Find("One Piece vol 105 in stock?", 3);
  ASSERT_FALSE(matches.empty());
  EXPECT_EQ(matches[0].entry->title, "One Piece");
  EXPECT_NE(matches[0].field, MatchField::kAuthor);
}

TEST(CatalogFindTest, FindsJapaneseTitleFollowedByParticles) {
  const auto matches = Shipped().Find("鬼滅の刃の最新刊", 3);
  ASSERT_FALSE(matches.empty());
  EXPECT_EQ(matches[0].entry->title_ja, "鬼滅の刃");
  EXPECT_EQ(matches[0].field, MatchField::kTitleJa);
}

TEST(CatalogFindTest, FindsAuthorAndListsTheirWorksByPopularity) {
  const auto matches = Shipped().Find("anything by Naoki Urasawa?", 10);
  ASSERT_GE(matches.size(), 5u);
  for (const auto& m : matches) {
    EXPECT_EQ(m.field, MatchField::kAuthor);
    EXPECT_EQ(m.entry->authors[m.author_index], "Naoki Urasawa");
  }
  EXPECT_EQ(matches[0].entry->title, "Monster");
  // Works where the name is the first author come first, each group by popularity.
  for (size_t i = 1; i < matches.size(); ++i) {
    const auto& a = matches[i - 1];
    const auto& b = matches[i];
    EXPECT_LT(std::make_pair(a.author_index > 0, a.entry->popularity),
              std::make_pair(b.author_index > 0, b.entry->popularity));
  }
  // Japanese order, the surname alone and the Japanese name work too.
  EXPECT_EQ(TopTitle("manga by Urasawa Naoki"), "Monster");
  EXPECT_EQ(TopTitle("anything else by Urasawa"), "Monster");
  EXPECT_EQ(TopTitle("浦沢直樹の作品"), "Monster");
}

TEST(CatalogFindTest, NoMatchOnAnUnrelatedMessage) {
  EXPECT_TRUE(Shipped().Find("Can you help me get a refund for my last purchase?", 5).empty());
  EXPECT_TRUE(Shipped().Find("I'm happy with the touch screen, a major improvement", 5).empty());
  EXPECT_TRUE(
      Shipped().Find("Please look back at my previous message after the rain stops", 5).empty());
  EXPECT_TRUE(Shipped().Find("配送状況を教えてください", 5).empty());
  EXPECT_TRUE(Shipped().Find("", 5).empty());
}

TEST(CatalogFindTest, OrdinaryWordTitlesMatchWhenTheyStandOut) {
  EXPECT_EQ(TopTitle("Do you have Monster by any chance?"), "Monster");
  EXPECT_EQ(TopTitle("is monster vol 3 available"), "Monster");
  EXPECT_EQ(TopTitle("I want \"Look Back\" please"), "Look Back");
  EXPECT_EQ(TopTitle("Monster"), "Monster");             // the whole message
  EXPECT_EQ(TopTitle("Monster is great"), "<none>");     // capitalized only because it starts
  EXPECT_EQ(TopTitle("DO YOU HAVE MONSTER"), "<none>");  // shouting: capitals say nothing
  EXPECT_EQ(TopTitle("How much is shipping for one volume to the US?"), "<none>");
}

TEST(CatalogFindTest, FoldsWidthCaseAndPunctuation) {
  EXPECT_EQ(TopTitle("ＯＮＥ　ＰＩＥＣＥの新刊"), "One Piece");
  EXPECT_EQ(TopTitle("spy x family"), "Spy x Family");
  EXPECT_EQ(TopTitle("SPY×FAMILYの13巻"), "Spy x Family");
  EXPECT_EQ(TopTitle("hells paradise"), "Hell's Paradise: Jigokuraku");
  EXPECT_EQ(TopTitle("ブラックジャック"), "Black Jack");
  EXPECT_EQ(TopTitle("Ranma 1/2 box set"), "Ranma ½");
}

TEST(CatalogFindTest, WordBoundariesAreRespected) {
  EXPECT_EQ(TopTitle("narutomaki recipe"), "<none>");
  EXPECT_EQ(TopTitle("Is Naruto finished?"), "Naruto");
}

TEST(CatalogFindTest, PrefersTheLongestMatch) {
  EXPECT_EQ(TopTitle("tokyo ghoul:re vol 16"), "Tokyo Ghoul:re");
  EXPECT_EQ(TopTitle("tokyo ghoul vol 1"), "Tokyo Ghoul");
  const auto m = Shipped().Find("Boruto: Naruto Next Generations vol 3", 5);
  ASSERT_EQ(m.size(), 1u);  // "Naruto" inside the longer title is not a separate match
  EXPECT_EQ(m[0].entry->title, "Boruto: Naruto Next Generations");
  // An author name containing a title ("Akira" in "Akira Toriyama") is about the author.
  EXPECT_EQ(Shipped().Find("more from Akira Toriyama", 5)[0].field, MatchField::kAuthor);
}

TEST(CatalogFindTest, TitlesRankBeforeAuthors) {
  const auto m = Shipped().Find("Pluto by Naoki Urasawa", 5);
  ASSERT_FALSE(m.empty());
  EXPECT_EQ(m[0].entry->title, "Pluto");
  EXPECT_NE(m[0].field, MatchField::kAuthor);
}

TEST(CatalogFindTest, MultipleTitlesEachOnce) {
  const auto m = Shipped().Find("naruto or bleach? or NARUTO again", 5);
  EXPECT_THAT(Ids(m), ::testing::UnorderedElementsAre(Shipped().Find("naruto", 1)[0].entry->id,
                                                      Shipped().Find("bleach", 1)[0].entry->id));
}

TEST(CatalogFindTest, MaxResultsIsRespected) {
  EXPECT_EQ(Shipped().Find("Osamu Tezuka", 2).size(), 2u);
  EXPECT_TRUE(Shipped().Find("Osamu Tezuka", 0).empty());
}

TEST(CatalogFindTest, ToleratesInvalidUtf8AndLongInput) {
  EXPECT_EQ(TopTitle(std::string("\xff\xfe one piece \xc3")), "One Piece");
  std::string long_text(10000, 'x');
  long_text += " one piece";
  EXPECT_TRUE(Shipped().Find(long_text, 5).empty());  // beyond kMaxFindInputBytes
}

TEST(CatalogFindTest, FindById) {
  const CatalogEntry* e = Shipped().FindById("ma:0001");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->title, "One Piece");
  EXPECT_EQ(Shipped().FindById("ma:9999"), nullptr);
}

TEST(CatalogScaleTest, LoadsTheSharedMadbCatalogAndFindsJapaneseTitles) {
  if (!std::filesystem::exists(kSharedCatalog)) {
    GTEST_SKIP() << "shared catalog not found at " << kSharedCatalog;
  }
  LoadReport report;
  auto catalog = Catalog::LoadJsonl(kSharedCatalog, &report);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  EXPECT_EQ((*catalog)->size(), 26437u);
  EXPECT_EQ(report.bad_line_count, 0u);

  const auto m = (*catalog)->Find("進撃の巨人の最新刊はいつ出ますか？", 5);
  ASSERT_FALSE(m.empty());
  EXPECT_EQ(m[0].entry->title_ja, "進撃の巨人");
  EXPECT_EQ(m[0].entry->id, "madb:C91061");

  const auto bj = (*catalog)->Find("ブラックジャックはありますか", 5);
  ASSERT_FALSE(bj.empty());
  EXPECT_EQ(bj[0].entry->title_ja, "ブラック・ジャック");

  // Every title of a sample is found again in a sentence around it.
  size_t checked = 0, found = 0;
  for (size_t i = 0; i < (*catalog)->size(); i += 97) {
    const CatalogEntry& e = (*catalog)->entries()[i];
    if (e.title_ja.size() < 9) continue;  // short titles are strict by design
    ++checked;
    for (const auto& match :
         (*catalog)->Find(absl::StrCat("「", e.title_ja, "」はありますか"), 10)) {
      if (match.entry->title_ja == e.title_ja) {
        ++found;
        break;
      }
    }
  }
  EXPECT_GT(checked, 100u);
  EXPECT_EQ(found, checked);
}

}  // namespace
}  // namespace mangaassist::rag
