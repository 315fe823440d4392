// Labelled intent examples (data/intent/*.jsonl: {"text", "intent", "lang"} per line), read with
// simdjson. Pure functions; thread-safe.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/language.h"

namespace mangaassist::intent {

struct Example {
  std::string text;
  std::string intent;  // may be empty in unlabelled input (`intent classify`)
  core::Lang lang = core::Lang::kEn;
  bool has_lang = false;  // the line named its language
};

// Reads a JSONL file. `require_label`: every line needs `intent`. InvalidArgument names the
// file and line of the first bad record; blank lines are skipped.
absl::StatusOr<std::vector<Example>> ReadExamples(const std::string& path, bool require_label);

}  // namespace mangaassist::intent
