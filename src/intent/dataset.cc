#include "intent/dataset.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "simdjson.h"

namespace mangaassist::intent {

absl::StatusOr<std::vector<Example>> ReadExamples(const std::string& path, bool require_label) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  simdjson::dom::parser parser;
  std::vector<Example> out;
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", n, ": ", why));
    };
    simdjson::dom::element doc;
    if (parser.parse(line).get(doc) != simdjson::SUCCESS) return bad("not valid JSON");
    simdjson::dom::object obj;
    if (doc.get_object().get(obj) != simdjson::SUCCESS) return bad("not a JSON object");
    Example e;
    std::string_view v;
    if (obj["text"].get_string().get(v) != simdjson::SUCCESS) return bad("needs a string `text`");
    e.text = std::string(v);
    auto intent = obj["intent"];
    if (intent.error() == simdjson::SUCCESS) {
      if (intent.get_string().get(v) != simdjson::SUCCESS) return bad("`intent` must be a string");
      e.intent = std::string(v);
    }
    if (require_label && e.intent.empty()) return bad("needs a non-empty `intent`");
    auto lang = obj["lang"];
    if (lang.error() == simdjson::SUCCESS) {
      if (lang.get_string().get(v) != simdjson::SUCCESS || !core::ParseLang(v, &e.lang)) {
        return bad("`lang` must be en, ja or mixed");
      }
      e.has_lang = true;
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace mangaassist::intent
