#include "intent/drift.h"

#include <cmath>

#include "gtest/gtest.h"

namespace mangaassist::intent {
namespace {

TEST(PsiTest, IdenticalDistributionsHaveZeroPsi) {
  EXPECT_NEAR(*Psi({10, 20, 30}, {1, 2, 3}), 0.0, 1e-12);
}

TEST(PsiTest, MatchesTheFormula) {
  // shares r = (0.5, 0.5), a = (0.8, 0.2)
  const double expected = (0.8 - 0.5) * std::log(0.8 / 0.5) + (0.2 - 0.5) * std::log(0.2 / 0.5);
  EXPECT_NEAR(*Psi({50, 50}, {80, 20}), expected, 1e-12);
  EXPECT_GT(expected, kDriftAlertPsi);
}

TEST(PsiTest, EmptyBucketsAreFlooredNotInfinite) {
  std::optional<double> p = Psi({100, 0}, {50, 50});
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(std::isfinite(*p));
  EXPECT_FALSE(Psi({0, 0}, {1, 1}).has_value());
}

TEST(DriftMonitorTest, JudgesEachWindowAgainstThePinnedReference) {
  core::Registry registry;
  DriftOptions o;
  o.window = absl::Hours(1);
  o.min_requests = 10;
  DriftMonitor m({"a", "b", "uncertain"}, o, &registry);
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000 / 3600 * 3600);
  // Window 1 (reference): all "a", all English.
  for (int i = 0; i < 100; ++i) m.Observe(0, core::Lang::kEn, t0 + absl::Seconds(i));
  // Window 2: same mix.
  for (int i = 0; i < 100; ++i)
    m.Observe(0, core::Lang::kEn, t0 + absl::Hours(1) + absl::Seconds(i));
  EXPECT_TRUE(m.Snapshot().has_reference);
  EXPECT_EQ(m.Snapshot().windows_judged, 0);  // window 2 is still open
  // Nothing measured yet: no PSI series that would read as "no drift".
  EXPECT_EQ(registry.RenderText().find("mangaassist_intent_drift_psi"), std::string::npos);
  // Window 3 opens: window 2 is judged, PSI 0.
  for (int i = 0; i < 100; ++i) {
    m.Observe(i < 50 ? 0 : 1, i < 50 ? core::Lang::kEn : core::Lang::kJa,
              t0 + absl::Hours(2) + absl::Seconds(i));
  }
  EXPECT_EQ(m.Snapshot().windows_judged, 1);
  EXPECT_NEAR(*m.Snapshot().intent_psi, 0.0, 1e-9);
  // Window 4 opens: window 3 (half b, half ja) has drifted.
  m.Observe(0, core::Lang::kEn, t0 + absl::Hours(3));
  DriftSnapshot s = m.Snapshot();
  EXPECT_EQ(s.windows_judged, 2);
  EXPECT_GT(*s.intent_psi, kDriftAlertPsi);
  EXPECT_GT(*s.lang_psi, kDriftAlertPsi);
  const std::string text = registry.RenderText();
  EXPECT_NE(text.find("mangaassist_intent_drift_alert{dimension=\"intent\"} 1"), std::string::npos)
      << text;
  EXPECT_NE(text.find("mangaassist_intent_drift_psi{dimension=\"lang\"} "), std::string::npos);
}

TEST(DriftMonitorTest, QuietWindowsAreNotJudged) {
  DriftOptions o;
  o.min_requests = 50;
  DriftMonitor m({"a", "b"}, o, nullptr);
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000 / 3600 * 3600);
  for (int h = 0; h < 5; ++h) m.Observe(0, core::Lang::kEn, t0 + absl::Hours(h));
  EXPECT_FALSE(m.Snapshot().has_reference);
  EXPECT_EQ(m.Snapshot().windows_judged, 0);
}

}  // namespace
}  // namespace mangaassist::intent
