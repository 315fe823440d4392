#include "privacy/check_digits.h"

namespace mangaassist::privacy {
namespace {

bool AllDigits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool LuhnValid(std::string_view digits) {
  if (digits.empty() || !AllDigits(digits)) return false;
  int sum = 0;
  bool twice = false;
  for (size_t i = digits.size(); i-- > 0;) {
    int d = digits[i] - '0';
    if (twice) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    twice = !twice;
  }
  return sum % 10 == 0;
}

bool MyNumberValid(std::string_view digits) {
  if (digits.size() != 12 || !AllDigits(digits)) return false;
  // P_n is the n-th digit counted leftwards from the one before the check digit;
  // Q_n = n + 1 for n <= 6, n - 5 for n >= 7.
  int sum = 0;
  for (int n = 1; n <= 11; ++n) {
    int p = digits[static_cast<size_t>(11 - n)] - '0';
    int q = n <= 6 ? n + 1 : n - 5;
    sum += p * q;
  }
  int r = sum % 11;
  int check = r <= 1 ? 0 : 11 - r;
  return digits[11] - '0' == check;
}

bool Ean13Valid(std::string_view digits) {
  if (digits.size() != 13 || !AllDigits(digits)) return false;
  int sum = 0;
  for (size_t i = 0; i < 12; ++i) sum += (digits[i] - '0') * (i % 2 ? 3 : 1);
  return (10 - sum % 10) % 10 == digits[12] - '0';
}

bool Isbn10Valid(std::string_view chars) {
  if (chars.size() != 10 || !AllDigits(chars.substr(0, 9))) return false;
  int sum = 0;
  for (size_t i = 0; i < 9; ++i) sum += (10 - static_cast<int>(i)) * (chars[i] - '0');
  char last = chars[9];
  int check;
  if (last == 'X' || last == 'x') {
    check = 10;
  } else if (last >= '0' && last <= '9') {
    check = last - '0';
  } else {
    return false;
  }
  return (sum + check) % 11 == 0;
}

bool Ipv4Valid(std::string_view text) {
  int parts = 0;
  size_t i = 0;
  while (true) {
    size_t start = i;
    int value = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i - start < 3) {
      value = value * 10 + (text[i] - '0');
      ++i;
    }
    if (i == start || value > 255) return false;
    ++parts;
    if (i == text.size()) break;
    if (text[i] != '.' || parts == 4) return false;
    ++i;
  }
  return parts == 4;
}

bool Ipv6Valid(std::string_view text, int* groups) {
  *groups = 0;
  if (text.size() < 2) return false;
  int count = 0;        // groups of 16 bits
  bool elided = false;  // saw "::"
  size_t i = 0;
  if (text.substr(0, 2) == "::") {
    elided = true;
    i = 2;
    if (i == text.size()) return true;  // "::" alone (unspecified) — caller decides
  } else if (text[0] == ':') {
    return false;
  }
  while (i < text.size()) {
    // An IPv4 tail: the rest parses as a dotted quad.
    size_t colon = text.find(':', i);
    std::string_view rest = text.substr(i, colon == std::string_view::npos ? text.npos : colon - i);
    if (colon == std::string_view::npos && rest.find('.') != std::string_view::npos) {
      if (!Ipv4Valid(rest)) return false;
      count += 2;
      break;
    }
    if (rest.empty() || rest.size() > 4) return false;
    for (char c : rest) {
      if (HexValue(c) < 0) return false;
    }
    ++count;
    i += rest.size();
    if (i == text.size()) break;
    // At a ':'.
    if (i + 1 < text.size() && text[i + 1] == ':') {
      if (elided) return false;  // a second "::"
      elided = true;
      i += 2;
      if (i == text.size()) break;
    } else {
      ++i;
      if (i == text.size()) return false;  // trailing single ':'
    }
  }
  *groups = count;
  return elided ? count <= 7 : count == 8;
}

}  // namespace mangaassist::privacy
