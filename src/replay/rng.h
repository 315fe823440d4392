// Rng: the trace generator's randomness, reproducible byte for byte on every platform. The
// engine is std::mt19937_64, whose output sequence the C++ standard fixes; the standard's
// distributions are NOT fixed (libstdc++, libc++ and MSVC draw differently), so every draw here
// is integer arithmetic on the raw 64-bit words: uniform integers by multiply-shift with
// rejection (Lemire), weighted choices by binary search in integer cumulative weights. Where a
// weight needs a real power (Zipf), it is computed once with IEEE-754 basic operations only
// (ZipfWeights), which are correctly rounded everywhere. Not thread-safe: one per generator.
#pragma once

#include <cstdint>
#include <random>
#include <string_view>
#include <vector>

namespace mangaassist::replay {

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}

  uint64_t Next() { return engine_(); }
  // Uniform in [0, n); n > 0. Unbiased (rejection on the low word).
  uint64_t Uniform(uint64_t n);
  // Uniform in [lo, hi]; lo <= hi.
  int64_t Between(int64_t lo, int64_t hi);
  // True with probability permille / 1000.
  bool Permille(int permille) { return static_cast<int>(Uniform(1000)) < permille; }

 private:
  std::mt19937_64 engine_;
};

// A weighted choice over indices 0..n-1 with non-negative integer weights (sum > 0).
class Discrete {
 public:
  Discrete() = default;
  explicit Discrete(const std::vector<uint64_t>& weights);
  size_t Draw(Rng& rng) const;
  size_t size() const { return cumulative_.size(); }
  uint64_t total() const { return cumulative_.empty() ? 0 : cumulative_.back(); }

 private:
  std::vector<uint64_t> cumulative_;
};

// Zipf weights w(r) = r^-s for ranks r = 1..n, scaled to integers (round(2^40 · w)). Computed
// with +, −, ×, ÷ on doubles only (ln by an atanh series, exp by range reduction and a Taylor
// series), so the table is identical on every IEEE-754 platform. REQUIRES: 0 <= s <= 4.
std::vector<uint64_t> ZipfWeights(size_t n, double s);

// Deterministic helpers for the portable math above (exposed for tests).
double PortableLog(double x);  // x > 0
double PortableExp(double x);  // |x| < 700

}  // namespace mangaassist::replay
