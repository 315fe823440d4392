#include "replay/rng.h"

#include <cmath>
#include <random>

#include "gtest/gtest.h"

namespace mangaassist::replay {
namespace {

TEST(RngTest, TheEngineIsTheStandardsMt19937_64) {
  // [rand.predef]: the 10000th output of a default-constructed mt19937_64.
  std::mt19937_64 e;
  e.discard(9999);
  EXPECT_EQ(e(), 9981545732273789042ull);
}

TEST(RngTest, DrawsArePinned) {
  // Pinned so that a change to the sampling code (which would change every trace) is noticed.
  Rng rng(42);
  std::vector<uint64_t> got;
  for (int i = 0; i < 5; ++i) got.push_back(rng.Uniform(1000));
  Rng again(42);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(again.Uniform(1000), got[static_cast<size_t>(i)]);
  EXPECT_EQ(got, (std::vector<uint64_t>{755, 639, 752, 136, 903}));
}

TEST(RngTest, UniformStaysInRangeAndCoversIt) {
  Rng rng(7);
  std::vector<int> seen(7);
  for (int i = 0; i < 70'000; ++i) {
    const uint64_t x = rng.Uniform(7);
    ASSERT_LT(x, 7u);
    ++seen[x];
  }
  for (int n : seen) EXPECT_NEAR(n, 10'000, 500);
  for (int i = 0; i < 1000; ++i) {
    const int64_t x = rng.Between(-3, 3);
    EXPECT_GE(x, -3);
    EXPECT_LE(x, 3);
  }
}

TEST(RngTest, DiscreteFollowsItsWeights) {
  Rng rng(3);
  Discrete d({1, 0, 3});
  std::vector<int> seen(3);
  for (int i = 0; i < 40'000; ++i) ++seen[d.Draw(rng)];
  EXPECT_EQ(seen[1], 0);
  EXPECT_NEAR(seen[0] / 40'000.0, 0.25, 0.01);
  EXPECT_NEAR(seen[2] / 40'000.0, 0.75, 0.01);
}

TEST(RngTest, PortableMathMatchesLibm) {
  for (double x : {1e-9, 0.3, 1.0, 2.0, 7.5, 300.0, 26437.0}) {
    EXPECT_NEAR(PortableLog(x), std::log(x), 1e-12 * std::max(1.0, std::fabs(std::log(x))));
  }
  for (double x : {-20.0, -3.3, -0.5, 0.0, 0.7, 5.0, 30.0}) {
    EXPECT_NEAR(PortableExp(x) / std::exp(x), 1.0, 1e-13);
  }
}

TEST(RngTest, ZipfWeightsFallWithRank) {
  const std::vector<uint64_t> w = ZipfWeights(300, 1.0);
  EXPECT_EQ(w[0], 1ull << 40);
  EXPECT_NEAR(static_cast<double>(w[1]) / w[0], 0.5, 1e-9);
  EXPECT_NEAR(static_cast<double>(w[9]) / w[0], 0.1, 1e-9);
  for (size_t i = 1; i < w.size(); ++i) EXPECT_LT(w[i], w[i - 1]);
  const std::vector<uint64_t> flat = ZipfWeights(5, 0.0);
  for (uint64_t x : flat) EXPECT_EQ(x, 1ull << 40);
}

}  // namespace
}  // namespace mangaassist::replay
