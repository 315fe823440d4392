// The rules layer of the intent classifier (US-02): a few high-precision RE2 patterns that decide
// before the model — an order number with a "where is it" cue is order_status, a request to speak
// to a person is complaint_escalation — and the follow-up detector the session intent cache uses
// ("and vol 2?", 「2巻は？」). Each rule is a pattern of an RE2::Set plus an optional veto
// pattern (RE2 has no negative lookahead): "cancel order MA-…" has an order number but must not
// be order_status. Patterns run on the normalized (NFKC) message, case-insensitively.
// Immutable after construction; thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace mangaassist::intent {

struct RuleMatch {
  std::string_view label;  // "" when no rule matched
  std::string_view rule;   // the rule's name (metrics, `intent classify` output)
};

class Rules {
 public:
  // The built-in rule set (rules.cc documents each rule and why it is high-precision).
  static absl::StatusOr<std::unique_ptr<Rules>> Create();
  ~Rules();

  // The first rule (in declaration order) that matches and is not vetoed.
  RuleMatch Match(std::string_view text) const;

  // True for a short follow-up that names no topic of its own and only shifts the volume or the
  // item ("and vol 2?", "what about volume 3", 「2巻は？」, 「次の巻は？」): it takes the session's
  // intent and title.
  bool IsFollowUp(std::string_view text) const;

  // Names of the rules, in order (tests, docs).
  std::vector<std::string_view> Names() const;

 private:
  struct Rule;
  Rules();
  std::vector<Rule> rules_;
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
};

}  // namespace mangaassist::intent
