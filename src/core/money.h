// Money as an integer count of nano-USD (1 USD = 1e9). No floating point ever touches money:
// parsing and formatting work on decimal strings. A value type; thread-compatible.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace mangaassist::core {

class Money {
 public:
  static constexpr int64_t kNanosPerUsd = 1'000'000'000;

  constexpr Money() = default;
  static constexpr Money FromNanos(int64_t nanos) { return Money(nanos); }
  static constexpr Money Zero() { return Money(0); }

  // Parses a decimal USD amount such as "3", "0.000003", "-1.25" (at most 9 fractional digits).
  static absl::StatusOr<Money> ParseUsd(std::string_view text);

  // Price per million tokens (a decimal string like "3.00") applied to a token count, rounded
  // half-up to the nearest nano-USD: tokens * price_per_mtok / 1e6.
  static Money PerMillion(Money price_per_million, int64_t count);

  constexpr int64_t nanos() const { return nanos_; }

  // "0.000123456" style: always 9 fractional digits, no exponent.
  std::string ToUsdString() const;

  constexpr Money operator+(Money o) const { return Money(nanos_ + o.nanos_); }
  constexpr Money operator-(Money o) const { return Money(nanos_ - o.nanos_); }
  constexpr Money& operator+=(Money o) { nanos_ += o.nanos_; return *this; }
  constexpr Money& operator-=(Money o) { nanos_ -= o.nanos_; return *this; }
  constexpr Money operator*(int64_t k) const { return Money(nanos_ * k); }
  constexpr auto operator<=>(const Money&) const = default;

 private:
  constexpr explicit Money(int64_t nanos) : nanos_(nanos) {}
  int64_t nanos_ = 0;
};

}  // namespace mangaassist::core
