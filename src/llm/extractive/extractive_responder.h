// The offline "extractive" responder: answers a chat message with no network and no model, from
// the EN/JA templates and RE2 cue patterns of data/templates/extractive.yaml plus a catalog
// lookup. The routing order (service topics, then catalog titles/authors, then small talk, then a
// fallback) is documented in that file. Deterministic: the same message and language always give
// the same answer. Immutable after Create(), so Answer() may be called from many threads at
// once. Does not own the catalog.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/language.h"
#include "rag/catalog.h"

namespace mangaassist::llm {

struct ExtractiveAnswer {
  std::string text;
  std::string template_id;  // e.g. "greeting", "product", "volume_in_range", "fallback"
  const rag::CatalogEntry* entry = nullptr;  // the catalog row the answer is about, if any
};

class ExtractiveResponder {
 public:
  // Loads and validates the template file (every template in both languages, known
  // placeholders only, every cue a valid RE2 pattern) and compiles the cues once.
  // Errors name the file: NotFound when it is missing, InvalidArgument when it is malformed.
  // REQUIRES: `catalog` outlives the responder; nullptr answers without catalog lookups.
  static absl::StatusOr<std::unique_ptr<ExtractiveResponder>> Create(
      const rag::Catalog* catalog, const std::string& templates_path);

  ~ExtractiveResponder();
  ExtractiveResponder(const ExtractiveResponder&) = delete;
  ExtractiveResponder& operator=(const ExtractiveResponder&) = delete;

  // Answers in Japanese for kJa and kMixed, in English for kEn. Only the first
  // kMaxMessageBytes of `message` are read.
  ExtractiveAnswer Answer(std::string_view message, core::Lang lang) const;

  static constexpr size_t kMaxMessageBytes = 4096;

 private:
  struct Impl;
  explicit ExtractiveResponder(std::unique_ptr<const Impl> impl);

  std::unique_ptr<const Impl> impl_;
};

}  // namespace mangaassist::llm
