// PII redaction for normalized text (SPEC §2 stage 2, issue 3). Finds e-mail addresses, phone
// numbers, payment cards, My Numbers, postal codes, IP addresses and street addresses, and
// replaces each with a typed placeholder ([EMAIL], [PHONE], …). Hand-written byte scanners find
// candidate regions, RE2 patterns match inside them (linear time), and hand-written check-digit
// scanners and context rules confirm each candidate, so ISBNs, JAN codes, order numbers, prices,
// dates, versions and tracking numbers stay. The rules, and why, are in redactor.cc.
// A Redactor is immutable after Create() and safe to share between threads.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mangaassist::privacy {

enum class PiiType : uint8_t {
  kEmail = 0,
  kPhone,
  kCreditCard,
  kMyNumber,
  kPostalCode,
  kIpAddress,
  kStreetAddress,
};
inline constexpr size_t kPiiTypeCount = 7;

// "email", "phone", "credit_card", "jp_my_number", "jp_postal_code", "ip_address",
// "street_address".
std::string_view PiiTypeName(PiiType type);
bool ParsePiiType(std::string_view name, PiiType* out);
// "[EMAIL]", "[PHONE]", "[CREDIT_CARD]", "[MY_NUMBER]", "[POSTAL_CODE]", "[IP_ADDRESS]",
// "[ADDRESS]".
std::string_view PiiPlaceholder(PiiType type);

struct PiiSpan {
  PiiType type = PiiType::kEmail;
  size_t start = 0;  // byte offsets into the text given to Redact()
  size_t end = 0;
  bool operator==(const PiiSpan&) const = default;
};

using PiiCounts = std::array<uint16_t, kPiiTypeCount>;  // saturate at 65535

struct Redaction {
  std::string text;            // the input with every span replaced by its placeholder
  std::vector<PiiSpan> spans;  // sorted by start, disjoint
  PiiCounts counts{};
  size_t total() const;
};

class Redactor {
 public:
  // Compiles the patterns. Failing to compile a built-in pattern is a programming error and
  // aborts.
  static std::unique_ptr<Redactor> Create();
  // A process-wide instance, created on first use.
  static const Redactor& Default();

  ~Redactor();
  Redactor(const Redactor&) = delete;
  Redactor& operator=(const Redactor&) = delete;

  // Redacts `text`, which should be the output of core::Normalize (valid UTF-8, NFKC, folded
  // whitespace); other input is handled safely but may be redacted less well. The result is a
  // fixed point: redacting it again changes nothing, and placeholders are never redacted.
  // Output is valid UTF-8 when the input is. Time is linear in the input.
  Redaction Redact(std::string_view text) const;
  // The same, taking the text by value: when nothing is found its buffer becomes the result.
  Redaction RedactOwned(std::string text) const;

  // For tests: checks the shortcuts of redactor.cc against the plain RE2 runs they replace, on
  // `text`. The digit patterns and the US address run anchored, and only where a candidate may
  // start: no other position may hold a candidate that its validator confirms. Context keywords
  // are found by a scanner: it must find what the keyword regex finds, for every start and end.
  // Returns a description of the first difference, or an empty string.
  std::string CheckShortcuts(std::string_view text) const;

  struct Patterns;  // compiled RE2 objects (redactor.cc)

 private:
  explicit Redactor(std::unique_ptr<Patterns> patterns);
  // One detection pass over `text`: confirmed, non-overlapping spans sorted by start.
  std::vector<PiiSpan> FindOnce(std::string_view text) const;

  std::unique_ptr<Patterns> patterns_;
};

}  // namespace mangaassist::privacy
