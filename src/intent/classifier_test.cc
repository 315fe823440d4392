#include "intent/classifier.h"

#include <memory>

#include "gtest/gtest.h"
#include "intent/test_util.h"

namespace mangaassist::intent {
namespace {

std::unique_ptr<Classifier> Make(double threshold) {
  static const std::string* bytes = [] {
    auto m = Train(testing::TrainSet(), testing::SmallOptions());
    EXPECT_TRUE(m.ok());
    return new std::string((*m)->Serialize());
  }();
  auto model = Model::Parse(*bytes);
  EXPECT_TRUE(model.ok());
  ClassifierOptions o;
  o.threshold = threshold;
  auto c = Classifier::Create(*std::move(model), o);
  EXPECT_TRUE(c.ok()) << c.status();
  return *std::move(c);
}

TEST(ClassifierTest, BelowTheThresholdTheLabelIsUncertain) {
  const std::string text = "do you have any new manga";
  auto strict = Make(0.999);
  Classification c = strict->Classify(text);
  EXPECT_EQ(c.source, Source::kModel);
  ASSERT_LT(c.confidence, 0.999f);
  EXPECT_EQ(c.intent, kUncertain);
  EXPECT_FALSE(c.best_label.empty());
  EXPECT_NE(c.best_label, kUncertain);

  auto lenient = Make(0.01);
  Classification d = lenient->Classify(text);
  EXPECT_EQ(d.intent, d.best_label);  // same model, same scores: only the threshold differs
  EXPECT_FLOAT_EQ(d.confidence, c.confidence);
}

TEST(ClassifierTest, ExactlyAtTheThresholdIsCovered) {
  auto probe = Make(0.01);
  Classification c = probe->Classify("when does One Piece vol 106 come out?");
  auto at = Make(c.confidence);
  EXPECT_EQ(at->Classify("when does One Piece vol 106 come out?").intent, c.best_label);
}

TEST(ClassifierTest, RulesComeBeforeTheModel) {
  auto c = Make(0);
  Classification r = c->Classify("where is my order MA-2025-004512?");
  EXPECT_EQ(r.source, Source::kRule);
  EXPECT_EQ(r.intent, "order_status");
  EXPECT_EQ(r.rule, "order_number_where");
  EXPECT_FLOAT_EQ(r.confidence, kRuleConfidence);
  EXPECT_EQ(c->Classify("MA-2025-004512はいつ届きますか").intent, "order_status");
  // Vetoed: an order number with a cancel cue is not order_status by rule.
  EXPECT_NE(c->Classify("please cancel order MA-2025-004512, where is the button").source,
            Source::kRule);
  EXPECT_EQ(c->Classify("I want to speak to a human right now").intent, "complaint_escalation");
  EXPECT_EQ(c->Classify("オペレーターと話したいです").intent, "complaint_escalation");
}

TEST(ClassifierTest, BoundedWorkOnHugeEmptyAndEmojiInput) {
  auto c = Make(0);
  const size_t cap = c->model().feature_options().max_features;
  std::string huge;
  while (huge.size() < 50'000) huge += "is there a sale on One Piece? セールはありますか ";
  huge.resize(50'000);
  Classification h = c->Classify(huge);
  EXPECT_EQ(h.source, Source::kModel);
  EXPECT_GT(h.features, 0u);
  EXPECT_LE(h.features, cap);

  std::string emoji;
  for (int i = 0; i < 12'500; ++i) emoji += "\xF0\x9F\x98\x80";  // 50,000 bytes of 😀
  Classification e = c->Classify(emoji);
  EXPECT_LE(e.features, cap);
  EXPECT_FALSE(e.intent.empty());

  Classification empty = c->Classify("");
  EXPECT_EQ(empty.features, 0u);
  EXPECT_FALSE(empty.intent.empty());
}

TEST(ClassifierTest, TrustedClassesFollowTheMeasuredPrecision) {
  auto m = Train(testing::TrainSet(), testing::SmallOptions());
  ASSERT_TRUE(m.ok());
  (*m)->mutable_meta().dev_class_precision = {{"greeting", 0.97}, {"other", 0.80}};
  auto c = Classifier::Create(*std::move(m), {});
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE((*c)->Trusted("greeting"));
  EXPECT_FALSE((*c)->Trusted("other"));
  EXPECT_FALSE((*c)->Trusted("payment"));  // not measured: not trusted
  EXPECT_EQ((*c)->ClassPrecision("other"), 0.80);
}

}  // namespace
}  // namespace mangaassist::intent
