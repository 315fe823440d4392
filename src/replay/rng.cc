#include "replay/rng.h"

#include <algorithm>
#include <cstdlib>

namespace mangaassist::replay {

uint64_t Rng::Uniform(uint64_t n) {
  // Lemire, "Fast Random Integer Generation in an Interval" (2019).
  uint64_t x = engine_();
  unsigned __int128 m = static_cast<unsigned __int128>(x) * n;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < n) {
    const uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      x = engine_();
      m = static_cast<unsigned __int128>(x) * n;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

int64_t Rng::Between(int64_t lo, int64_t hi) {
  return lo + static_cast<int64_t>(Uniform(static_cast<uint64_t>(hi - lo) + 1));
}

Discrete::Discrete(const std::vector<uint64_t>& weights) {
  cumulative_.reserve(weights.size());
  uint64_t sum = 0;
  for (uint64_t w : weights) {
    sum += w;
    cumulative_.push_back(sum);
  }
  if (sum == 0) std::abort();  // REQUIRES: a positive total (checked by the profile loader)
}

size_t Discrete::Draw(Rng& rng) const {
  const uint64_t x = rng.Uniform(cumulative_.back());
  return static_cast<size_t>(std::upper_bound(cumulative_.begin(), cumulative_.end(), x) -
                             cumulative_.begin());
}

double PortableLog(double x) {
  // x = m · 2^e with m in [0.75, 1.5): exact scaling by powers of two.
  int e = 0;
  while (x >= 1.5) {
    x /= 2;
    ++e;
  }
  while (x < 0.75) {
    x *= 2;
    --e;
  }
  // ln m = 2 atanh(t), t = (m − 1)/(m + 1), |t| < 0.2: the series converges fast.
  const double t = (x - 1) / (x + 1);
  const double t2 = t * t;
  double term = t, sum = 0;
  for (int k = 1; k < 60; k += 2) {
    sum += term / k;
    term *= t2;
  }
  constexpr double kLn2 = 0.6931471805599453094;
  return 2 * sum + e * kLn2;
}

double PortableExp(double x) {
  // exp(x) = 2^k · exp(r), |r| <= ln2 / 2, r by Taylor series.
  constexpr double kLn2 = 0.6931471805599453094;
  const double kd = x / kLn2;
  const int k = static_cast<int>(kd >= 0 ? kd + 0.5 : kd - 0.5);
  const double r = x - k * kLn2;
  double term = 1, sum = 1;
  for (int n = 1; n < 30; ++n) {
    term = term * r / n;
    sum += term;
  }
  for (int i = 0; i < k; ++i) sum *= 2;
  for (int i = 0; i > k; --i) sum /= 2;
  return sum;
}

std::vector<uint64_t> ZipfWeights(size_t n, double s) {
  std::vector<uint64_t> w(n);
  constexpr double kScale = 1099511627776.0;  // 2^40
  for (size_t r = 1; r <= n; ++r) {
    const double v = PortableExp(-s * PortableLog(static_cast<double>(r)));
    w[r - 1] = std::max<uint64_t>(1, static_cast<uint64_t>(v * kScale + 0.5));
  }
  return w;
}

}  // namespace mangaassist::replay
