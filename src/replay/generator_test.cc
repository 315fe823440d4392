#include "replay/generator.h"

#include <algorithm>
#include <map>
#include <set>

#include "gtest/gtest.h"
#include "llm/simulated/answer_lengths.h"
#include "replay/phrasebook.h"

namespace mangaassist::replay {
namespace {

const rag::Catalog& TestCatalog() {
  static const rag::Catalog* catalog = [] {
    rag::LoadReport report;
    auto c = rag::Catalog::LoadJsonl(
        std::string(MANGAASSIST_DATA_DIR_FOR_TESTS) + "/catalog/catalog.jsonl", &report);
    if (!c.ok()) std::abort();
    return c->release();
  }();
  return *catalog;
}

std::vector<TraceRecord> Generate(uint64_t seed, int64_t n, int days,
                                  GeneratorProfile profile = DefaultGeneratorProfile()) {
  GeneratorOptions o;
  o.seed = seed;
  o.messages = n;
  o.days = days;
  o.profile = std::move(profile);
  o.catalog = &TestCatalog();
  auto g = TraceGenerator::Create(std::move(o));
  EXPECT_TRUE(g.ok()) << g.status();
  std::vector<TraceRecord> out;
  (*g)->Generate([&out](const TraceRecord& r) { out.push_back(r); });
  return out;
}

std::string Lines(const std::vector<TraceRecord>& records) {
  std::string s;
  for (const TraceRecord& r : records) AppendTraceLine(r, &s);
  return s;
}

// The share of `key`'s values among `records`.
template <typename F>
std::map<std::string, double> Shares(const std::vector<TraceRecord>& records, F key) {
  std::map<std::string, double> m;
  for (const TraceRecord& r : records) m[key(r)] += 1.0 / static_cast<double>(records.size());
  return m;
}

TEST(GeneratorTest, SameSeedSameBytesOtherSeedOtherTrace) {
  const std::string a = Lines(Generate(11, 3000, 2));
  EXPECT_EQ(a, Lines(Generate(11, 3000, 2)));
  EXPECT_NE(a, Lines(Generate(12, 3000, 2)));
}

TEST(GeneratorTest, TheTraceOfASeedIsPinned) {
  // The bytes of seed 3 (3,000 messages, 2 days, default profile, data/catalog), pinned so a
  // platform or library that draws differently is caught. Update the pin only when the
  // generator, its phrasebook, its defaults or the catalog change on purpose.
  const std::string trace = Lines(Generate(3, 3000, 2));
  EXPECT_EQ(trace.size(), 767791u);
  EXPECT_EQ(llm::MixHash({trace}, 0), 12425993996827510663ull);
}

TEST(GeneratorTest, EmitsExactlyNRecordsInTimestampOrderWithGroundTruth) {
  const std::vector<TraceRecord> t = Generate(1, 5000, 3);
  ASSERT_EQ(t.size(), 5000u);
  for (size_t i = 1; i < t.size(); ++i) ASSERT_LE(t[i - 1].ts_ms, t[i].ts_ms);
  for (const TraceRecord& r : t) {
    EXPECT_FALSE(r.intent.empty());
    EXPECT_TRUE(r.lang.has_value());
    EXPECT_FALSE(r.canonical_id.empty());
    ASSERT_TRUE(r.output_tokens.has_value());
    EXPECT_GT(*r.output_tokens, 0);
    EXPECT_EQ(LabelLanguage(r.message), *r.lang) << r.message;
  }
}

TEST(GeneratorTest, MixesMatchTheProfileWithinTolerance) {
  GeneratorProfile p = DefaultGeneratorProfile();
  p.release.enabled = false;  // the spike shifts the intent mix on purpose
  const std::vector<TraceRecord> t = Generate(5, 40'000, 7, p);
  const auto intents = Shares(t, [](const TraceRecord& r) { return r.intent; });
  uint64_t total = 0;
  for (const auto& [name, w] : p.intent_mix) total += w;
  for (const auto& [name, w] : p.intent_mix) {
    const double want = static_cast<double>(w) / static_cast<double>(total);
    EXPECT_NEAR(intents.count(name) ? intents.at(name) : 0.0, want, 0.012) << name;
  }
  EXPECT_EQ(intents.size(), 16u);
  // Languages: the session's language, then the LABELS.md rule on the text; a Japanese session
  // about a series without a Japanese-script name reads as mixed.
  const auto langs =
      Shares(t, [](const TraceRecord& r) { return std::string(core::LangName(*r.lang)); });
  EXPECT_NEAR(langs.at("en"), 0.45, 0.03);
  EXPECT_NEAR(langs.at("ja"), 0.40, 0.04);
  EXPECT_NEAR(langs.at("mixed"), 0.15, 0.04);
  // Tiers are per user: count users.
  std::map<std::string, core::Tier> users;
  for (const TraceRecord& r : t) {
    auto [it, added] = users.emplace(r.user_id, r.tier);
    EXPECT_EQ(it->second, r.tier) << "a user's tier is stable";
  }
  std::map<core::Tier, double> tiers;
  for (const auto& [u, tier] : users) tiers[tier] += 1.0 / static_cast<double>(users.size());
  EXPECT_NEAR(tiers[core::Tier::kGuest], 0.5, 0.05);
  EXPECT_NEAR(tiers[core::Tier::kMember], 0.4, 0.05);
  EXPECT_NEAR(tiers[core::Tier::kPremium], 0.1, 0.03);
}

TEST(GeneratorTest, SessionsHaveOneToEightTurnsGreetingFirstThanksLast) {
  const std::vector<TraceRecord> t = Generate(2, 20'000, 3);
  std::map<std::string, std::vector<const TraceRecord*>> sessions;
  for (const TraceRecord& r : t) sessions[r.session_id].push_back(&r);
  std::map<size_t, int> lengths;
  for (const auto& [id, turns] : sessions) {
    ASSERT_GE(turns.size(), 1u);
    ASSERT_LE(turns.size(), 8u);
    ++lengths[turns.size()];
    for (size_t i = 1; i < turns.size(); ++i) {
      EXPECT_FALSE(turns[i]->intent == "greeting" && turns[i - 1]->intent != "greeting");
      EXPECT_FALSE(turns[i - 1]->intent == "farewell_thanks" &&
                   turns[i]->intent != "farewell_thanks");
      EXPECT_EQ(turns[i]->user_id, turns[0]->user_id);
    }
  }
  EXPECT_EQ(lengths.size(), 8u);
  EXPECT_GT(lengths[1], lengths[4]);
  EXPECT_GT(lengths[4], lengths[8]);
  const double mean = static_cast<double>(t.size()) / static_cast<double>(sessions.size());
  EXPECT_NEAR(mean, 2.9, 0.15);
}

TEST(GeneratorTest, PopularSeriesAreAskedAboutMoreThanTheTail) {
  const std::vector<TraceRecord> t = Generate(3, 30'000, 3);
  std::map<std::string, int> by_title;
  for (const TraceRecord& r : t) {
    const size_t a = r.canonical_id.find("ma:");
    if (a != std::string::npos) ++by_title[r.canonical_id.substr(a, 7)];
  }
  auto count = [&](int from, int to) {  // ids ma:0001.. follow popularity rank in the catalog
    int n = 0;
    for (int i = from; i <= to; ++i) {
      char id[8];
      std::snprintf(id, sizeof id, "ma:%04d", i);
      n += by_title.count(id) ? by_title[id] : 0;
    }
    return n;
  };
  EXPECT_GT(count(1, 1), count(10, 10));
  EXPECT_GT(count(1, 10), 2 * count(11, 30));  // Zipf(1): head 2.93 vs next 1.10 (harmonic sums)
  EXPECT_GT(count(1, 30), count(201, 300));
  EXPECT_GT(count(201, 300), 0);  // the tail is still asked about
}

TEST(GeneratorTest, NearMissesDoNotShareACanonicalId) {
  const std::vector<TraceRecord> t = Generate(4, 30'000, 3);
  int pairs = 0;
  std::map<std::string, std::set<std::string>> volumes_by_id;
  std::map<std::string, const TraceRecord*> last_volume_question;  // by session
  for (const TraceRecord& r : t) {
    const size_t v = r.canonical_id.find("/v");
    if (v == std::string::npos) continue;
    const std::string volume =
        r.canonical_id.substr(v + 2, r.canonical_id.find('/', v + 1) - v - 2);
    // The volume of the id is the number in the text.
    EXPECT_NE(r.message.find(volume), std::string::npos) << r.message << " " << r.canonical_id;
    volumes_by_id[r.canonical_id].insert(volume);
    auto it = last_volume_question.find(r.session_id);
    if (it != last_volume_question.end()) {
      const std::string& prev = it->second->canonical_id;
      const std::string kind_title = r.canonical_id.substr(0, v);
      if (prev.rfind(kind_title + "/v", 0) == 0 && prev != r.canonical_id) ++pairs;
    }
    last_volume_question[r.session_id] = &r;
  }
  EXPECT_GT(pairs, 50) << "the trace holds near-miss volume pairs";
  for (const auto& [id, vols] : volumes_by_id) EXPECT_EQ(vols.size(), 1u) << id;
  // "is it finished" and "is it ongoing" about the same series are different questions.
  std::set<std::string> finished, ongoing;
  for (const TraceRecord& r : t) {
    if (r.canonical_id.rfind("status_finished/", 0) == 0) finished.insert(r.canonical_id);
    if (r.canonical_id.rfind("status_ongoing/", 0) == 0) ongoing.insert(r.canonical_id);
  }
  EXPECT_FALSE(finished.empty());
  EXPECT_FALSE(ongoing.empty());
  for (const std::string& id : finished) EXPECT_EQ(ongoing.count(id), 0u);
}

TEST(GeneratorTest, ParaphrasesShareTheirCanonicalId) {
  const std::vector<TraceRecord> t = Generate(6, 20'000, 3);
  std::map<std::string, std::set<std::string>> texts;
  for (const TraceRecord& r : t) texts[r.canonical_id].insert(r.message);
  int families = 0;
  for (const auto& [id, set] : texts) families += set.size() >= 3;
  EXPECT_GT(families, 20) << "many ids are asked in three or more wordings";
}

TEST(GeneratorTest, TheReleaseSpikeRaisesTrafficAboutTheNewVolume) {
  const std::vector<TraceRecord> t = Generate(8, 30'000, 3);
  // Day 1 10:00–11:00 JST (01:00–02:00 UTC) against the same hour of day 0 and day 2.
  const int64_t day0 = 1793458800000;  // 2026-11-01T00:00+09:00
  auto in_hour = [&](int day) {
    const int64_t from = day0 + day * 86'400'000LL + 10 * 3'600'000LL;
    int n = 0, release = 0;
    for (const TraceRecord& r : t) {
      if (r.ts_ms >= from && r.ts_ms < from + 3'600'000) {
        ++n;
        release += r.canonical_id.find("ma:0001/v111") != std::string::npos;
      }
    }
    return std::make_pair(n, release);
  };
  const auto spike = in_hour(1), before = in_hour(0), after = in_hour(2);
  EXPECT_GT(spike.first, 3 * before.first);
  EXPECT_GT(spike.first, 3 * after.first);
  EXPECT_GT(spike.second, spike.first / 3);
}

TEST(GeneratorTest, OutputTokensFollowTheIntentsDistribution) {
  const std::vector<TraceRecord> t = Generate(9, 20'000, 2);
  std::map<std::string, std::vector<int64_t>> by_intent;
  for (const TraceRecord& r : t) by_intent[r.intent].push_back(*r.output_tokens);
  for (auto& [intent, v] : by_intent) {
    const llm::AnswerLengthQuantiles& q = llm::AnswerLengthsFor(intent);
    std::sort(v.begin(), v.end());
    EXPECT_GE(v.front(), q.tokens[0]) << intent;
    EXPECT_LE(v.back(), q.tokens[5]) << intent;
    if (v.size() < 500) continue;
    const int64_t median = v[v.size() / 2];
    EXPECT_GE(median, q.tokens[2] - (q.tokens[3] - q.tokens[2]) / 4) << intent;
    EXPECT_LE(median, q.tokens[3] + (q.tokens[3] - q.tokens[2]) / 4) << intent;
  }
  EXPECT_GT(by_intent["recommendation"].at(by_intent["recommendation"].size() / 2),
            by_intent["greeting"].at(by_intent["greeting"].size() / 2));
}

TEST(GeneratorTest, SomeEnglishMessagesCarryTypos) {
  const std::vector<TraceRecord> t = Generate(10, 20'000, 2);
  std::set<std::string> canonical_texts;
  for (const PhraseKind& k : Phrasebook()) {
    if (k.title || k.order || k.genre || k.volume) continue;
    for (std::string_view s : k.en) canonical_texts.insert(std::string(s));
  }
  int plain = 0, typo = 0;
  for (const TraceRecord& r : t) {
    if (*r.lang != core::Lang::kEn || r.canonical_id.find("/ma:") != std::string::npos) continue;
    if (r.canonical_id.find("MA-") != std::string::npos) continue;
    if (r.canonical_id.rfind("genre/", 0) == 0) continue;
    (canonical_texts.count(r.message) ? plain : typo)++;
  }
  const double share = static_cast<double>(typo) / (plain + typo);
  EXPECT_GT(share, 0.02);
  EXPECT_LT(share, 0.10);
}

TEST(GeneratorTest, LanguageLabelsFollowLabelsMd) {
  EXPECT_EQ(LabelLanguage("Is One Piece vol 105 in stock?"), core::Lang::kEn);
  EXPECT_EQ(LabelLanguage("konnichiwa"), core::Lang::kEn);
  EXPECT_EQ(LabelLanguage("鬼滅の刃は全何巻ですか？"), core::Lang::kJa);
  EXPECT_EQ(LabelLanguage("注文MA-2025-004512はいつ届きますか"), core::Lang::kJa);
  EXPECT_EQ(LabelLanguage("SPRING25のクーポンが使えません"), core::Lang::kJa);
  EXPECT_EQ(LabelLanguage("d払いできますか"), core::Lang::kJa);
  EXPECT_EQ(LabelLanguage("Chainsaw Manの新刊"), core::Lang::kMixed);
  EXPECT_EQ(LabelLanguage("PayPayで払えますか？"), core::Lang::kMixed);
}

TEST(GeneratorTest, TheShippedProfileIsTheDefault) {
  auto p = LoadGeneratorProfile(std::string(MANGAASSIST_SOURCE_DIR) + "/config/trace-profile.yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  const GeneratorProfile d = DefaultGeneratorProfile();
  EXPECT_EQ(p->start_date, d.start_date);
  auto sorted = [](std::vector<std::pair<std::string, uint64_t>> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(sorted(p->intent_mix), sorted(d.intent_mix));
  EXPECT_EQ(sorted(p->release_intent_mix), sorted(d.release_intent_mix));
  EXPECT_EQ(p->lang_mix, d.lang_mix);
  EXPECT_EQ(p->tier_mix, d.tier_mix);
  EXPECT_EQ(p->turns, d.turns);
  EXPECT_EQ(p->zipf_exponent, d.zipf_exponent);
  EXPECT_EQ(p->typo_permille, d.typo_permille);
  EXPECT_EQ(p->near_miss_permille, d.near_miss_permille);
  EXPECT_EQ(p->users_permille, d.users_permille);
  EXPECT_EQ(p->diurnal_jst, d.diurnal_jst);
  EXPECT_EQ(p->weekday, d.weekday);
  EXPECT_EQ(p->think_ms, d.think_ms);
  EXPECT_EQ(p->release.enabled, d.release.enabled);
  EXPECT_EQ(p->release.day, d.release.day);
  EXPECT_EQ(p->release.hour_jst, d.release.hour_jst);
  EXPECT_EQ(p->release.title_rank, d.release.title_rank);
  EXPECT_EQ(p->release.multiplier_permille, d.release.multiplier_permille);
  EXPECT_EQ(p->release.duration_minutes, d.release.duration_minutes);
}

}  // namespace
}  // namespace mangaassist::replay
