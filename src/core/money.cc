#include "core/money.h"

#include <cstdlib>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/strings.h"

namespace mangaassist::core {

absl::StatusOr<Money> Money::ParseUsd(std::string_view input) {
  absl::string_view text = absl::StripAsciiWhitespace(ToAbsl(input));
  if (text.empty()) return absl::InvalidArgumentError("empty amount");
  bool negative = false;
  if (text.front() == '-' || text.front() == '+') {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  if (text.empty()) return absl::InvalidArgumentError("amount has no digits");
  __int128 whole = 0;
  int64_t frac = 0;
  int frac_digits = 0;
  bool seen_dot = false, seen_digit = false;
  for (char c : text) {
    if (c == '.') {
      if (seen_dot) return absl::InvalidArgumentError(absl::StrCat("bad amount '", text, "'"));
      seen_dot = true;
    } else if (c >= '0' && c <= '9') {
      seen_digit = true;
      if (seen_dot) {
        if (++frac_digits > 9) {
          return absl::InvalidArgumentError(
              absl::StrCat("amount '", text, "' has more than 9 decimal places"));
        }
        frac = frac * 10 + (c - '0');
      } else {
        whole = whole * 10 + (c - '0');
        if (whole > std::numeric_limits<int64_t>::max() / kNanosPerUsd) {
          return absl::InvalidArgumentError(absl::StrCat("amount '", text, "' is too large"));
        }
      }
    } else if (c == '_' || c == ',') {
      continue;  // digit group separators
    } else {
      return absl::InvalidArgumentError(absl::StrCat("bad amount '", text, "'"));
    }
  }
  if (!seen_digit) return absl::InvalidArgumentError(absl::StrCat("bad amount '", text, "'"));
  for (int i = frac_digits; i < 9; ++i) frac *= 10;
  int64_t nanos = static_cast<int64_t>(whole) * kNanosPerUsd + frac;
  return Money(negative ? -nanos : nanos);
}

Money Money::PerMillion(Money price_per_million, int64_t count) {
  __int128 product = static_cast<__int128>(price_per_million.nanos_) * count;
  __int128 q = product / 1'000'000;
  __int128 r = product % 1'000'000;
  if (r * 2 >= 1'000'000) ++q;
  if (r * 2 <= -1'000'000) --q;
  return Money(static_cast<int64_t>(q));
}

std::string Money::ToUsdString() const {
  uint64_t abs = nanos_ < 0 ? static_cast<uint64_t>(-(nanos_ + 1)) + 1 : static_cast<uint64_t>(nanos_);
  // On every response: digits by hand into one buffer, right to left (sign, whole dollars,
  // point, nine fraction digits).
  char buf[32];
  char* p = buf + sizeof(buf);
  uint64_t rem = abs % kNanosPerUsd;
  for (int i = 0; i < 9; ++i) {
    *--p = static_cast<char>('0' + rem % 10);
    rem /= 10;
  }
  *--p = '.';
  uint64_t whole = abs / kNanosPerUsd;
  do {
    *--p = static_cast<char>('0' + whole % 10);
    whole /= 10;
  } while (whole != 0);
  if (nanos_ < 0) *--p = '-';
  return std::string(p, static_cast<size_t>(buf + sizeof(buf) - p));
}

}  // namespace mangaassist::core
