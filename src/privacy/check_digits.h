// Hand-written validators for the numbers the redactor finds or must leave alone: Luhn (payment
// cards), the Japanese My Number check digit, EAN-13/JAN and ISBN-10 check digits, and strict
// IPv4/IPv6 text forms. Each takes the characters of one candidate; all are pure, linear and
// thread-safe.
#pragma once

#include <string_view>

namespace mangaassist::privacy {

// `digits` holds only '0'..'9' in every function below that takes digits.

// Luhn mod-10 check over all digits (the last one is the check digit).
bool LuhnValid(std::string_view digits);

// Japanese individual number (My Number, 個人番号): 12 digits, the last a mod-11 check digit
// over the first 11 with weights 6,5,4,3,2,7,6,5,4,3,2 (MIC ordinance No. 85, 2014).
bool MyNumberValid(std::string_view digits);

// EAN-13 / JAN / ISBN-13 check digit (weights 1,3 alternating; 13 digits).
bool Ean13Valid(std::string_view digits);

// ISBN-10: nine digits and a mod-11 check character ('0'..'9' or 'X'/'x').
bool Isbn10Valid(std::string_view chars);

// Dotted-quad IPv4: four decimal octets 0..255 of one to three digits.
bool Ipv4Valid(std::string_view text);

// IPv6 text form (RFC 4291 §2.2): eight groups of 1–4 hex digits, or fewer with one "::",
// optionally ending in a dotted-quad IPv4. *groups receives the number of non-empty groups
// (an IPv4 tail counts as two).
bool Ipv6Valid(std::string_view text, int* groups);

}  // namespace mangaassist::privacy
