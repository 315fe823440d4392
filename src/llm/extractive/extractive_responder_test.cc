#include "llm/extractive/extractive_responder.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "cache/memory_cache.h"
#include "core/clock.h"
#include "core/language.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rag/promotions.h"
#include "rag/store_lookup.h"

namespace mangaassist::llm {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kDataDir = MANGAASSIST_DATA_DIR_FOR_TESTS;
const std::string kTemplates = kDataDir + "/templates/extractive.yaml";

bool HasJapanese(std::string_view s) {
  // Any UTF-8 lead byte of the CJK / kana blocks (U+3000..U+9FFF) is 0xE3..0xE9.
  for (unsigned char c : s) {
    if (c >= 0xE3 && c <= 0xE9) return true;
  }
  return false;
}

class ExtractiveResponderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto catalog = rag::Catalog::LoadJsonl(kDataDir + "/catalog/catalog.jsonl", nullptr);
    ASSERT_TRUE(catalog.ok()) << catalog.status();
    catalog_ = catalog->release();
    auto responder = ExtractiveResponder::Create(catalog_, kTemplates);
    ASSERT_TRUE(responder.ok()) << responder.status();
    responder_ = responder->release();
  }

  static ExtractiveAnswer Ask(std::string_view message) {
    return responder_->Answer(message, core::DetectLanguage(message));
  }

  static inline const rag::Catalog* catalog_ = nullptr;
  static inline const ExtractiveResponder* responder_ = nullptr;
};

TEST_F(ExtractiveResponderTest, JapaneseGreetingGetsJapaneseGreeting) {
  const ExtractiveAnswer a = Ask("こんにちは");
  EXPECT_EQ(a.template_id, "greeting");
  EXPECT_THAT(a.text, HasSubstr("こんにちは"));
  EXPECT_EQ(a.entry, nullptr);
}

TEST_F(ExtractiveResponderTest, EnglishGreetingGetsEnglishGreeting) {
  for (const char* hello : {"hello", "Hi!", "good morning :)"}) {
    const ExtractiveAnswer a = Ask(hello);
    EXPECT_EQ(a.template_id, "greeting") << hello;
    EXPECT_THAT(a.text, HasSubstr("Hello")) << hello;
    EXPECT_FALSE(HasJapanese(a.text)) << hello;
  }
  EXPECT_EQ(Ask("おはようございます").template_id, "greeting");
}

TEST_F(ExtractiveResponderTest, Farewell) {
  EXPECT_EQ(Ask("thanks, bye!").template_id, "farewell");
  const ExtractiveAnswer a = Ask("ありがとうございました");
  EXPECT_EQ(a.template_id, "farewell");
  EXPECT_TRUE(HasJapanese(a.text));
}

TEST_F(ExtractiveResponderTest, EnglishTitleQuestion) {
  const ExtractiveAnswer a = Ask("Do you have Demon Slayer?");
  EXPECT_EQ(a.template_id, "product_completed");
  ASSERT_NE(a.entry, nullptr);
  EXPECT_EQ(a.entry->title_ja, "鬼滅の刃");
  EXPECT_THAT(a.text, HasSubstr("Demon Slayer: Kimetsu no Yaiba"));
  EXPECT_THAT(a.text, HasSubstr("Koyoharu Gotouge"));
  EXPECT_THAT(a.text, HasSubstr("23 volumes"));
  EXPECT_FALSE(HasJapanese(a.text));
}

TEST_F(ExtractiveResponderTest, JapaneseTitleQuestion) {
  const ExtractiveAnswer a = Ask("呪術廻戦はありますか？");
  EXPECT_EQ(a.template_id, "product_completed");
  ASSERT_NE(a.entry, nullptr);
  EXPECT_EQ(a.entry->title, "Jujutsu Kaisen");
  EXPECT_THAT(a.text, HasSubstr("『呪術廻戦』"));
  EXPECT_THAT(a.text, HasSubstr("芥見下々"));
  EXPECT_THAT(a.text, HasSubstr("全30巻"));
  EXPECT_THAT(a.text, HasSubstr("アクション"));  // genres translated
  EXPECT_THAT(a.text, Not(HasSubstr("Yuji")));   // no English synopsis in Japanese
}

TEST_F(ExtractiveResponderTest, OngoingTitle) {
  const ExtractiveAnswer a = Ask("is one piece still running?");
  EXPECT_EQ(a.template_id, "product");
  EXPECT_THAT(a.text, HasSubstr("One Piece by Eiichiro Oda: 110 volumes so far. Status: ongoing."));
}

TEST_F(ExtractiveResponderTest, MixedMessageAnswersInJapanese) {
  const std::string msg = "One Pieceの最新刊はありますか";
  ASSERT_EQ(core::DetectLanguage(msg), core::Lang::kMixed);
  const ExtractiveAnswer a = Ask(msg);
  EXPECT_EQ(a.template_id, "latest_volume");
  EXPECT_THAT(a.text, HasSubstr("『ONE PIECE』の最新刊は110巻"));
}

TEST_F(ExtractiveResponderTest, VolumeWithinKnownCount) {
  const ExtractiveAnswer a = Ask("One Piece vol 105 in stock?");
  EXPECT_EQ(a.template_id, "volume_in_range");
  EXPECT_THAT(a.text, HasSubstr("Volume 105 of One Piece"));
  EXPECT_THAT(a.text, HasSubstr("110 volumes"));
  const ExtractiveAnswer ja = Ask("ＯＮＥ　ＰＩＥＣＥの１０５巻ありますか");  // full width
  EXPECT_EQ(ja.template_id, "volume_in_range");
  EXPECT_THAT(ja.text, HasSubstr("105巻"));
}

TEST_F(ExtractiveResponderTest, VolumeBeyondTheEndOfAFinishedSeries) {
  const ExtractiveAnswer a = Ask("Is Naruto volume 80 out?");
  EXPECT_EQ(a.template_id, "volume_beyond_end");
  EXPECT_THAT(a.text, HasSubstr("complete in 72 volumes, so there is no volume 80"));
}

TEST_F(ExtractiveResponderTest, VolumeNotYetOutForAnOngoingSeries) {
  const ExtractiveAnswer a = Ask("one piece vol. 120?");
  EXPECT_EQ(a.template_id, "volume_not_yet");
  EXPECT_THAT(a.text, HasSubstr("volume 120"));
}

TEST_F(ExtractiveResponderTest, VolumeOfASeriesWithoutACount) {
  const ExtractiveAnswer a = Ask("チェンソーマン 3巻");
  EXPECT_EQ(a.template_id, "volume_count_unknown");
  EXPECT_THAT(a.text, HasSubstr("3巻"));
}

TEST_F(ExtractiveResponderTest, LatestVolumeOfAFinishedSeries) {
  const ExtractiveAnswer a = Ask("鬼滅の刃の最新刊");
  EXPECT_EQ(a.template_id, "latest_volume_completed");
  EXPECT_THAT(a.text, HasSubstr("全23巻"));
}

TEST_F(ExtractiveResponderTest, AuthorListsWorks) {
  const ExtractiveAnswer a = Ask("anything by Naoki Urasawa?");
  EXPECT_EQ(a.template_id, "author_works");
  EXPECT_THAT(a.text, HasSubstr("Works by Naoki Urasawa in our catalog: Monster, "));
  const ExtractiveAnswer ja = Ask("浦沢直樹の作品を教えて");
  EXPECT_EQ(ja.template_id, "author_works");
  EXPECT_THAT(ja.text, HasSubstr("浦沢直樹の作品：『MONSTER』、"));
}

TEST_F(ExtractiveResponderTest, ServiceTopicsWinOverTitles) {
  EXPECT_EQ(Ask("where is my order MA-2025-004512?").template_id, "order_status");
  EXPECT_EQ(Ask("I ordered One Piece vol 108 last week and it hasn't arrived").template_id,
            "order_status");
  EXPECT_EQ(Ask("注文した本がまだ届かない").template_id, "order_status");
  EXPECT_EQ(Ask("How much is shipping to Canada for the One Piece box set?").template_id,
            "shipping");
  EXPECT_EQ(Ask("送料はいくらですか").template_id, "shipping");
  EXPECT_EQ(Ask("返品したいのですが").template_id, "returns");
  EXPECT_EQ(Ask("can I get a refund?").template_id, "returns");
  EXPECT_EQ(Ask("支払い方法を変更したい").template_id, "payment");
  EXPECT_EQ(Ask("hi, do you accept PayPay?").template_id, "payment");
  EXPECT_EQ(Ask("My One Piece vol 3 arrived damaged").template_id, "returns");
  EXPECT_EQ(Ask("I want to talk to a human").template_id, "contact_support");
  EXPECT_EQ(Ask("please cancel my order for Naruto vol 3").template_id, "order_change");
  EXPECT_EQ(Ask("注文のお届け先を変更したい").template_id, "order_change");
  EXPECT_EQ(Ask("オペレーターに代わって").template_id, "contact_support");
}

TEST_F(ExtractiveResponderTest, OrderAnswerDoesNotEchoPersonalData) {
  const ExtractiveAnswer a = Ask("my order MA-2025-004512 for taro@example.com hasn't shipped");
  EXPECT_EQ(a.template_id, "order_status");
  EXPECT_THAT(a.text, Not(HasSubstr("004512")));
  EXPECT_THAT(a.text, Not(HasSubstr("taro")));
  EXPECT_THAT(a.text, HasSubstr("My Page"));
}

TEST_F(ExtractiveResponderTest, Fallback) {
  const ExtractiveAnswer en = Ask("what's the meaning of life?");
  EXPECT_EQ(en.template_id, "fallback");
  EXPECT_THAT(en.text, HasSubstr("I can help with manga titles, authors"));
  const ExtractiveAnswer ja = Ask("今日は暑いですね");
  EXPECT_EQ(ja.template_id, "fallback");
  EXPECT_TRUE(HasJapanese(ja.text));
  EXPECT_EQ(Ask("").template_id, "fallback");
}

TEST_F(ExtractiveResponderTest, DeterministicAndThreadSafe) {
  const std::vector<std::string> messages = {
      "One Piece vol 105 in stock?", "鬼滅の刃の最新刊", "anything by Naoki Urasawa?", "hello",
      "where is my order?",          "返品したい",       "random words here"};
  std::vector<ExtractiveAnswer> expected;
  for (const auto& m : messages) expected.push_back(Ask(m));
  for (size_t i = 0; i < messages.size(); ++i) {
    const ExtractiveAnswer again = Ask(messages[i]);
    EXPECT_EQ(again.text, expected[i].text);
    EXPECT_EQ(again.template_id, expected[i].template_id);
    EXPECT_EQ(again.entry, expected[i].entry);
  }
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 200; ++round) {
        for (size_t i = 0; i < messages.size(); ++i) {
          if (Ask(messages[i]).text != expected[i].text) ++mismatches[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

TEST_F(ExtractiveResponderTest, WorksWithoutACatalog) {
  auto r = ExtractiveResponder::Create(nullptr, kTemplates);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->Answer("One Piece vol 105?", core::Lang::kEn).template_id, "fallback");
  EXPECT_EQ((*r)->Answer("hello", core::Lang::kEn).template_id, "greeting");
}

// --- Recommendation and promotion answers, read through the store lookup ---

absl::Time Jst(const char* rfc3339) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) << err;
  return t;
}

rag::Promotion Promo(std::string id, const char* start, const char* end, int percent) {
  rag::Promotion p;
  p.id = id;
  p.title_en = "Sale " + id;
  p.title_ja = "セール" + id;
  p.text_en = absl::StrCat(percent, "% off.");
  p.text_ja = absl::StrCat(percent, "%オフ。");
  p.start = Jst(start);
  p.end = Jst(end);
  p.discount_percent = percent;
  return p;
}

class StoreAnswersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto catalog = rag::Catalog::LoadJsonl(kDataDir + "/catalog/catalog.jsonl", nullptr);
    ASSERT_TRUE(catalog.ok()) << catalog.status();
    catalog_ = *std::move(catalog);
    cache::MemoryCacheOptions mo;
    mo.clock = &clock_;
    cache_ = std::make_unique<cache::MemoryCache>(mo);
    rag::Promotion fantasy =
        Promo("fantasy", "2026-11-01T00:00:00+09:00", "2026-12-01T00:00:00+09:00", 15);
    fantasy.genres = {"Fantasy"};
    rag::Promotion spy = Promo("spy", "2026-11-20T00:00:00+09:00", "2026-12-20T00:00:00+09:00", 20);
    spy.title_ids = {"ma:0007"};
    promotions_ = rag::PromotionSet::FromPromotions(
        {Promo("store", "2026-01-01T00:00:00+09:00", "2027-01-01T00:00:00+09:00", 5), fantasy, spy,
         Promo("ended", "2026-10-01T00:00:00+09:00", "2026-11-01T00:00:00+09:00", 30),
         Promo("future", "2026-12-24T00:00:00+09:00", "2026-12-26T00:00:00+09:00", 40)});
    catalog_origin_ = rag::NewCatalogOrigin(catalog_.get());
    promotion_origin_ = rag::NewPromotionOrigin(promotions_.get());
    rag::StoreLookupOptions o;
    o.cache = cache_.get();
    o.catalog = catalog_origin_.get();
    o.promotions = promotion_origin_.get();
    o.clock = &clock_;
    lookup_ = std::make_unique<rag::StoreLookup>(o);
    auto responder = ExtractiveResponder::Create(catalog_.get(), kTemplates, lookup_.get());
    ASSERT_TRUE(responder.ok()) << responder.status();
    responder_ = *std::move(responder);
    auto plain = ExtractiveResponder::Create(catalog_.get(), kTemplates);
    ASSERT_TRUE(plain.ok()) << plain.status();
    plain_ = *std::move(plain);
    clock_.Set(Jst("2026-11-25T12:00:00+09:00"));  // store, fantasy and spy are running
  }

  ExtractiveAnswer Ask(std::string_view message) const {
    return responder_->Answer(message, core::DetectLanguage(message));
  }

  // What {works} should read for these recommendations.
  std::vector<std::string> Titles(const rag::RecoQuery& q, bool ja) const {
    auto items = lookup_->Recommend(q);
    EXPECT_TRUE(items.ok()) << items.status();
    std::vector<std::string> out;
    for (const rag::RecoItem& r : *items) {
      out.push_back(ja ? absl::StrCat("『", r.title_ja.empty() ? r.title : r.title_ja, "』")
                       : (r.title.empty() ? r.title_ja : r.title));
    }
    return out;
  }

  core::ManualClock clock_;
  std::unique_ptr<rag::Catalog> catalog_;
  std::unique_ptr<cache::Cache> cache_;
  std::unique_ptr<rag::PromotionSet> promotions_;
  std::unique_ptr<rag::CatalogOrigin> catalog_origin_;
  std::unique_ptr<rag::PromotionOrigin> promotion_origin_;
  std::unique_ptr<rag::StoreLookup> lookup_;
  std::unique_ptr<ExtractiveResponder> responder_;
  std::unique_ptr<ExtractiveResponder> plain_;
};

TEST_F(StoreAnswersTest, EnglishSimilarTitles) {
  const ExtractiveAnswer a = Ask("Can you recommend something like Chainsaw Man?");
  EXPECT_EQ(a.template_id, "recommend_similar");
  ASSERT_NE(a.entry, nullptr);
  EXPECT_EQ(a.entry->id, "ma:0008");
  const std::vector<std::string> titles = Titles({rag::RecoKind::kSimilar, "ma:0008", 5}, false);
  ASSERT_EQ(titles.size(), 5u);
  EXPECT_EQ(titles[0], "Fire Punch");  // the same author, action and fantasy
  EXPECT_EQ(a.text, "If you like Chainsaw Man, you might also enjoy: " +
                        absl::StrJoin(titles, ", ") + ". Ask me about any of them for details.");
  EXPECT_EQ(Ask("any manga similar to Chainsaw Man?").text, a.text);
  EXPECT_EQ(Ask("I loved Chainsaw Man, what should I read next?").text, a.text);
}

TEST_F(StoreAnswersTest, JapaneseSimilarTitles) {
  const ExtractiveAnswer a = Ask("チェンソーマンみたいな漫画を教えてください");
  EXPECT_EQ(a.template_id, "recommend_similar");
  const std::vector<std::string> titles = Titles({rag::RecoKind::kSimilar, "ma:0008", 5}, true);
  EXPECT_EQ(titles[0], "『ファイアパンチ』");
  EXPECT_EQ(a.text, "『チェンソーマン』がお好きなら、" + absl::StrJoin(titles, "、") +
                        "もおすすめです。気になる作品があれば詳しくご案内します。");
  EXPECT_EQ(Ask("チェンソーマンが好きな人におすすめは？").text, a.text);
  EXPECT_EQ(Ask("チェンソーマンみたいな manga ある？").text, a.text);  // mixed: Japanese answer
}

TEST_F(StoreAnswersTest, GenreRecommendations) {
  const ExtractiveAnswer en = Ask("Recommend a good horror manga");
  EXPECT_EQ(en.template_id, "recommend_genre");
  const std::vector<std::string> horror = Titles({rag::RecoKind::kGenre, "Horror", 5}, false);
  ASSERT_FALSE(horror.empty());
  EXPECT_EQ(en.text, "Popular Horror manga in our catalog: " + absl::StrJoin(horror, ", ") + ".");
  const ExtractiveAnswer ja = Ask("おすすめのホラー漫画はありますか？");
  EXPECT_EQ(ja.template_id, "recommend_genre");
  EXPECT_EQ(ja.text, "当店で人気のホラーマンガ：" +
                         absl::StrJoin(Titles({rag::RecoKind::kGenre, "Horror", 5}, true), "、") +
                         "。");
  EXPECT_EQ(Ask("ラブコメのおすすめは？").template_id, "recommend_genre");
  EXPECT_THAT(Ask("ラブコメのおすすめは？").text, HasSubstr("恋愛"));
  EXPECT_THAT(Ask("what's a popular sci-fi series?").text, HasSubstr("Popular Sci-Fi manga"));
}

TEST_F(StoreAnswersTest, PopularTitlesWhenNothingIsNamed) {
  const ExtractiveAnswer a = Ask("any recommendations?");
  EXPECT_EQ(a.template_id, "recommend_popular");
  EXPECT_THAT(a.text, ::testing::StartsWith("Our best-known series: One Piece, "));
  EXPECT_EQ(Ask("何かおすすめある？").template_id, "recommend_popular");
  EXPECT_THAT(Ask("何かおすすめある？").text,
              ::testing::StartsWith("当店の人気シリーズ：『ONE PIECE』、"));
}

TEST_F(StoreAnswersTest, AnAuthorStillGetsTheirWorks) {
  EXPECT_EQ(Ask("can you recommend something by Naoki Urasawa?").template_id, "author_works");
}

TEST_F(StoreAnswersTest, EnglishPromotionsRunningNow) {
  const ExtractiveAnswer a = Ask("Are there any sales right now?");
  EXPECT_EQ(a.template_id, "promotions");
  EXPECT_EQ(a.text,
            "Current promotions: Sale store (until Dec 31, 2026): 5% off. "
            "Sale fantasy (until Nov 30, 2026): 15% off. "
            "Sale spy (until Dec 19, 2026): 20% off.");
  EXPECT_EQ(Ask("do new customers get a discount?").template_id, "promotions");
  EXPECT_EQ(Ask("Is there a coupon for first-time buyers?").template_id, "promotions");
}

TEST_F(StoreAnswersTest, JapanesePromotionsRunningNow) {
  const ExtractiveAnswer a = Ask("今セールはやっていますか？");
  EXPECT_EQ(a.template_id, "promotions");
  EXPECT_EQ(a.text,
            "現在開催中のキャンペーン：【セールstore】5%オフ。（2026年12月31日まで）"
            "【セールfantasy】15%オフ。（2026年11月30日まで）"
            "【セールspy】20%オフ。（2026年12月19日まで）");
  EXPECT_EQ(Ask("何か割引キャンペーンはありますか").text, a.text);
  EXPECT_EQ(Ask("初回購入のクーポンはありますか？").text, a.text);
  EXPECT_EQ(Ask("今 sale やってますか？").text, a.text);
}

TEST_F(StoreAnswersTest, PromotionsForATitleAreThoseThatCoverIt) {
  const ExtractiveAnswer frieren = Ask("Is Frieren on sale?");
  EXPECT_EQ(frieren.template_id, "promotions_title");
  EXPECT_THAT(frieren.text,
              ::testing::StartsWith("Frieren: Beyond Journey's End is part of these promotions: "));
  EXPECT_THAT(frieren.text, HasSubstr("Sale fantasy"));
  EXPECT_THAT(frieren.text, HasSubstr("Sale store"));
  EXPECT_THAT(frieren.text, Not(HasSubstr("Sale spy")));
  const ExtractiveAnswer spy = Ask("SPY×FAMILYのキャンペーンある？");
  EXPECT_EQ(spy.template_id, "promotions_title");
  EXPECT_THAT(spy.text, ::testing::StartsWith("『SPY×FAMILY』が対象のキャンペーン："));
  EXPECT_THAT(spy.text, HasSubstr("セールspy"));
  EXPECT_THAT(spy.text, Not(HasSubstr("セールfantasy")));
}

TEST_F(StoreAnswersTest, PromotionsFollowTheClock) {
  clock_.Set(Jst("2025-06-01T00:00:00+09:00"));  // before every promotion
  EXPECT_EQ(Ask("any sales?").template_id, "promotions_none");
  EXPECT_EQ(
      Ask("セールやってる？").text,
      "現在開催中のキャンペーンはありません。新しいセール情報はトップページでお知らせします。");
  EXPECT_EQ(Ask("Is Chainsaw Man on sale?").text,
            "There is no promotion on Chainsaw Man right now. New sales are announced on our top "
            "page.");
  clock_.Set(Jst("2026-12-24T00:00:00+09:00"));  // fantasy ended; future began
  const ExtractiveAnswer a = Ask("any sales?");
  EXPECT_THAT(a.text, HasSubstr("Sale future"));
  EXPECT_THAT(a.text, Not(HasSubstr("Sale fantasy")));
  EXPECT_THAT(a.text, Not(HasSubstr("Sale ended")));
}

TEST_F(StoreAnswersTest, ServiceTopicsStillWin) {
  EXPECT_EQ(Ask("my coupon code doesn't work").template_id, "payment");
  EXPECT_EQ(Ask("クーポンが使えない").template_id, "payment");
  EXPECT_EQ(Ask("can I return a discounted book?").template_id, "returns");
}

TEST_F(StoreAnswersTest, ProductAnswersReadThroughTheProductCache) {
  for (const char* m : {"Is One Piece vol 105 in stock?", "鬼滅の刃は全何巻？",
                        "Tell me about Frieren", "チェンソーマンの最新刊"}) {
    const ExtractiveAnswer via_cache = Ask(m);
    const ExtractiveAnswer direct = plain_->Answer(m, core::DetectLanguage(m));
    EXPECT_EQ(via_cache.text, direct.text) << m;
    EXPECT_EQ(via_cache.template_id, direct.template_id) << m;
    ASSERT_NE(via_cache.entry, nullptr) << m;
    EXPECT_TRUE(
        cache_->Get(cache::Keyspace::kProduct, lookup_->ProductKey(via_cache.entry->id)).ok())
        << m;
    EXPECT_EQ(Ask(m).text, direct.text) << m;  // from the cache this time
  }
}

TEST_F(StoreAnswersTest, WithoutALookupTheOldRulesApply) {
  EXPECT_EQ(
      plain_->Answer("Can you recommend something like Chainsaw Man?", core::Lang::kEn).template_id,
      "product_no_volumes");
  EXPECT_EQ(plain_->Answer("any sales?", core::Lang::kEn).template_id, "fallback");
}

// --- Template file errors ---

class TemplateFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& contents) {
    const std::string path = (std::filesystem::temp_directory_path() /
                              absl::StrCat("extractive_test_", ::getpid(), "_", n_++, ".yaml"))
                                 .string();
    std::ofstream(path) << contents;
    paths_.push_back(path);
    return path;
  }
  // The shipped file with one substitution applied.
  std::string ShippedWith(const std::string& from, const std::string& to) {
    std::ifstream in(kTemplates);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_THAT(text, HasSubstr(from));
    return Write(absl::StrReplaceAll(text, {{from, to}}));
  }
  void TearDown() override {
    for (const auto& p : paths_) std::filesystem::remove(p);
  }

 private:
  int n_ = 0;
  std::vector<std::string> paths_;
};

TEST_F(TemplateFileTest, MissingFileIsNotFoundAndNamesTheFile) {
  auto r = ExtractiveResponder::Create(nullptr, "/nonexistent/extractive.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("/nonexistent/extractive.yaml"));
}

TEST_F(TemplateFileTest, InvalidYamlNamesTheFile) {
  const std::string path = Write("templates: [unclosed\n  greeting: {en: \"x\"\n");
  auto r = ExtractiveResponder::Create(nullptr, path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(path));
}

TEST_F(TemplateFileTest, MissingTemplateIsReported) {
  const std::string path = ShippedWith("  fallback:\n", "  not_fallback:\n");
  auto r = ExtractiveResponder::Create(nullptr, path);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(path + ": missing templates.fallback"));
}

TEST_F(TemplateFileTest, UnknownPlaceholderIsReported) {
  const std::string path = ShippedWith("{title} by {author}: {volumes} volumes so far.",
                                       "{title} by {writer}: {volumes} volumes so far.");
  auto r = ExtractiveResponder::Create(nullptr, path);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("templates.product.en: unknown placeholder {writer}"));
}

TEST_F(TemplateFileTest, InvalidRe2CueIsReported) {
  const std::string path = ShippedWith("'返品|へんぴん", "'返品(|へんぴん");
  auto r = ExtractiveResponder::Create(nullptr, path);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("topics[1].cues[4]"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("not a valid RE2 pattern"));
}

TEST_F(TemplateFileTest, VolumePatternNeedsOneCapturingGroup) {
  const std::string path = ShippedWith("'(\\d{1,4})\\s*巻'", "'\\d{1,4}\\s*巻'");
  auto r = ExtractiveResponder::Create(nullptr, path);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("exactly one capturing group"));
}

}  // namespace
}  // namespace mangaassist::llm
