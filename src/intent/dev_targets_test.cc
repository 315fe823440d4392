// The default model (data/intent/model.bin, trained at build time from data/intent/train*.jsonl)
// on dev, normalized and redacted exactly as the pipeline does (privacy::Sanitize), as
// `mangaassist intent eval` does.
// Issue 9's bar is precision at the threshold ≥ 0.92 with coverage ≥ 70%, accuracy ≥ 0.85 and no
// language more than 5 points below the others; all four are asserted as is (docs/benchmarks.md
// has today's figures).
#include <algorithm>

#include "gtest/gtest.h"
#include "intent/eval.h"
#include "privacy/sanitize.h"

namespace mangaassist::intent {
namespace {

TEST(DevTargetsTest, DefaultModelMeetsTheTargetsOnDev) {
  const std::string dir = MANGAASSIST_DATA_DIR_FOR_TESTS;
  auto classifier = Classifier::Load(dir + "/intent/model.bin", {});
  ASSERT_TRUE(classifier.ok()) << classifier.status();
  auto dev = ReadExamples(dir + "/intent/dev.jsonl", true);
  ASSERT_TRUE(dev.ok()) << dev.status();
  ASSERT_EQ(dev->size(), 320u);
  privacy::SanitizeOptions o;
  o.normalize.max_chars = 8000;
  o.normalize.on_oversize = core::Oversize::kTruncate;
  for (Example& e : *dev) {
    auto clean = privacy::Sanitize(e.text, o, privacy::Redactor::Default());
    ASSERT_TRUE(clean.ok());
    e.text = clean->text;
  }
  EvalReport r = Evaluate(**classifier, *dev);
  EXPECT_GE(r.precision_at_threshold, kPrecisionFloor) << EvalText(r);
  EXPECT_GE(r.coverage, 0.70) << EvalText(r);
  EXPECT_GE(r.accuracy, 0.85) << EvalText(r);
  double best = 0, worst = 1;
  for (const auto& [lang, m] : r.by_lang) {
    ASSERT_GT(m.n, 0) << lang;
    best = std::max(best, m.accuracy);
    worst = std::min(worst, m.accuracy);
  }
  EXPECT_LE(best - worst, 0.05) << EvalText(r);
  // The model carries what the training gate measured; it must agree with this measurement.
  EXPECT_NEAR((*classifier)->model().meta().dev_precision_at_threshold, r.precision_at_threshold,
              1e-9);
}

}  // namespace
}  // namespace mangaassist::intent
