#include "intent/rules.h"

#include <map>

#include "gtest/gtest.h"
#include "intent/test_util.h"

namespace mangaassist::intent {
namespace {

// Every rule must be high-precision on the labelled training data (the rules were written
// against it; dev is never used to tune them).
TEST(RulesTest, EveryRuleIsPreciseOnTheTrainingSets) {
  auto rules = Rules::Create();
  ASSERT_TRUE(rules.ok()) << rules.status();
  std::map<std::string, std::pair<int, int>> by_rule;  // fired, correct
  for (const char* file : {"train.jsonl", "train_extra.jsonl"}) {
    auto ex = ReadExamples(testing::DataFile(file), true);
    ASSERT_TRUE(ex.ok()) << ex.status();
    for (const Example& e : *ex) {
      RuleMatch m = (*rules)->Match(e.text);
      if (m.label.empty()) continue;
      auto& [fired, correct] = by_rule[std::string(m.rule)];
      ++fired;
      correct += m.label == e.intent;
      if (m.label != e.intent) ADD_FAILURE() << m.rule << " fired on: " << e.text;
    }
  }
  for (std::string_view name : (*rules)->Names()) {
    auto [fired, correct] = by_rule[std::string(name)];
    EXPECT_GE(fired, 5) << name << " never fires: dead rule";
    if (fired > 0) {
      EXPECT_GE(static_cast<double>(correct) / fired, 0.95) << name;
    }
  }
}

TEST(RulesTest, OrderNumberNeedsAWhereCueAndNoChangeCue) {
  auto rules = *Rules::Create();
  EXPECT_EQ(rules->Match("where is order MA-2025-004512").label, "order_status");
  EXPECT_EQ(rules->Match("注文番号MA-2025-004512がまだ届かない").label, "order_status");
  EXPECT_EQ(rules->Match("MA-2025-004512").label, "");     // no cue
  EXPECT_EQ(rules->Match("where is my order").label, "");  // no number
  EXPECT_EQ(rules->Match("cancel MA-2025-004512, where do I click").label, "");
  EXPECT_EQ(rules->Match("注文番号MA-2025-004512の届け先住所を変更したい").label, "");
}

TEST(RulesTest, AskingForAPersonIsEscalationButAskingIfTheBotIsHumanIsNot) {
  auto rules = *Rules::Create();
  EXPECT_EQ(rules->Match("can I talk to a real person please").label, "complaint_escalation");
  EXPECT_EQ(rules->Match("担当者と話したい").label, "complaint_escalation");
  EXPECT_EQ(rules->Match("are you human?").label, "");
  EXPECT_EQ(rules->Match("人間ですか？").label, "");
}

TEST(RulesTest, FollowUps) {
  auto rules = *Rules::Create();
  for (const char* yes :
       {"and vol 2?", "And volume 3", "what about vol. 4?", "vol 5?", "and the next one?", "2巻は?",
        "じゃあ3巻も?", "第5巻はどうですか", "vol 2は?", "次の巻は?"}) {
    EXPECT_TRUE(rules->IsFollowUp(yes)) << yes;
  }
  for (const char* no :
       {"when is One Piece vol 105 out?", "where is my order", "2巻を注文したのにまだ届かない",
        "hello", "", "vol 2 of Berserk deluxe price?"}) {
    EXPECT_FALSE(rules->IsFollowUp(no)) << no;
  }
}

}  // namespace
}  // namespace mangaassist::intent
