#include "intent/model.h"

#include <cmath>
#include <filesystem>

#include "gtest/gtest.h"
#include "intent/test_util.h"
#include "intent/trainer.h"

namespace mangaassist::intent {
namespace {

using testing::SmallOptions;
using testing::TrainSet;

TEST(TrainerTest, SameSeedGivesByteIdenticalModelFiles) {
  const std::vector<Example> data = TrainSet();
  ASSERT_GT(data.size(), 1000u);
  auto a = Train(data, SmallOptions(7));
  auto b = Train(data, SmallOptions(7));
  auto c = Train(data, SmallOptions(8));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  const std::string bytes_a = (*a)->Serialize(), bytes_b = (*b)->Serialize();
  EXPECT_EQ(bytes_a, bytes_b);
  EXPECT_EQ((*a)->version(), (*b)->version());
  EXPECT_NE(bytes_a, (*c)->Serialize());  // the seed matters
  EXPECT_NE((*a)->version(), (*c)->version());

  // Through the file system too.
  const std::string dir = ::testing::TempDir();
  ASSERT_TRUE((*a)->Save(dir + "/a.bin").ok());
  ASSERT_TRUE((*b)->Save(dir + "/b.bin").ok());
  auto la = Model::Load(dir + "/a.bin");
  ASSERT_TRUE(la.ok()) << la.status();
  EXPECT_EQ((*la)->version(), (*a)->version());
  EXPECT_EQ(std::filesystem::file_size(dir + "/a.bin"), std::filesystem::file_size(dir + "/b.bin"));
  EXPECT_EQ((*la)->Serialize(), bytes_a);  // a loaded model writes the same bytes
}

TEST(TrainerTest, LearnsTheTrainingSet) {
  const std::vector<Example> data = TrainSet();
  auto m = Train(data, SmallOptions());
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)->labels().size(), 16u);
  int correct = 0;
  for (const Example& e : data) {
    Scores s = (*m)->Score(e.text);
    correct += (*m)->labels()[static_cast<size_t>(s.best)] == e.intent;
  }
  EXPECT_GT(correct, static_cast<int>(data.size() * 9 / 10));
  const ModelMeta& meta = (*m)->meta();
  EXPECT_GT(meta.temperature, 0.05);
  EXPECT_GE(meta.threshold, 0.05);
  EXPECT_LE(meta.threshold, 0.95);
  EXPECT_EQ(meta.train_examples, static_cast<int64_t>(data.size()));
  EXPECT_NEAR(meta.train_label_share.at("greeting"), 1.0 / 16, 0.01);
}

TEST(TrainerTest, RefusesDegenerateData) {
  std::vector<Example> one_label(20, Example{"hello", "greeting", core::Lang::kEn, true});
  EXPECT_FALSE(Train(one_label, SmallOptions()).ok());
}

TEST(TemperatureTest, OverconfidentLogitsGetATemperatureAboveOne) {
  // Two classes, logits ±10 but right only 70% of the time: the fit must soften them.
  std::vector<float> logits;
  std::vector<int> labels;
  for (int i = 0; i < 100; ++i) {
    logits.push_back(10);
    logits.push_back(-10);
    labels.push_back(i < 70 ? 0 : 1);
  }
  const double t = FitTemperature(logits, labels, 2);
  EXPECT_GT(t, 5.0);
  // softmax(20 / t) for class 0 should be near 0.7.
  EXPECT_NEAR(1.0 / (1.0 + std::exp(-20.0 / t)), 0.7, 0.03);
}

TEST(ModelFileTest, RejectsCorruptFiles) {
  auto m = Train(TrainSet(), SmallOptions());
  ASSERT_TRUE(m.ok());
  std::string bytes = (*m)->Serialize();
  EXPECT_TRUE(Model::Parse(bytes).ok());
  EXPECT_FALSE(Model::Parse(bytes.substr(0, bytes.size() - 3)).ok());  // truncated
  EXPECT_FALSE(Model::Parse("NOTMODEL" + bytes.substr(8)).ok());       // magic
  EXPECT_FALSE(Model::Parse(bytes + "x").ok());                        // trailing
  EXPECT_FALSE(Model::Load("/nonexistent/model.bin").ok());
}

TEST(ModelFileTest, VersionChangesWithTheContent) {
  auto m = Train(TrainSet(), SmallOptions());
  ASSERT_TRUE(m.ok());
  const std::string before = ((*m)->Serialize(), (*m)->version());
  (*m)->mutable_meta().threshold += 0.01;
  (*m)->Serialize();
  EXPECT_NE((*m)->version(), before);
  EXPECT_EQ(before.rfind("i1-", 0), 0u);
  EXPECT_EQ(before.size(), 15u);
}

}  // namespace
}  // namespace mangaassist::intent
